"""JSON file writes whose base64 ``data`` is decoded as it streams in
(datasety.server.files.json_upload): every chunking of the body gives the same bytes, bad input
the same 400s as before, and a big upload costs the server far less memory than its own size."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
from starlette.requests import Request

from datasety.server.errors import ApiError
from datasety.server.files.json_upload import JsonWrite
from datasety.server.files.readwrite import WritePlan
from datasety.server.settings import Settings
from tests.server.test_memory import status_kb
from tests.server.test_process import Server, free_port

PAYLOAD = os.urandom(50_000)


def request_of(body: bytes, chunk: int) -> Request:
    """A request whose body arrives in pieces of ``chunk`` bytes."""
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    messages = [{"type": "http.request", "body": p, "more_body": True} for p in pieces]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    app = SimpleNamespace(state=SimpleNamespace(settings=Settings(data_dir=Path("unused"))))
    scope = {"type": "http", "method": "POST", "headers": [], "app": app, "query_string": b""}
    return Request(scope, receive)  # type: ignore[arg-type]


async def _no_check(plan: WritePlan) -> None:
    return None


def read(body: bytes, chunk: int) -> tuple[bytes | None, WritePlan]:
    """(the data streamed, or None when the write has none; the plan)."""

    async def run() -> tuple[bytes | None, WritePlan]:
        upload = JsonWrite(request_of(body, chunk))
        await upload.start()
        if not upload.has_data:
            return None, upload.plan
        parts = [part async for part in upload.data_chunks(_no_check)]
        return b"".join(parts), upload.plan

    return anyio.run(run)


def mime_escaped(data: bytes) -> str:
    """Base64 as some clients send it: escaped slashes and ``+``, line breaks every 76."""
    text = base64.b64encode(data).decode()
    lines = [text[i : i + 76] for i in range(0, len(text), 76)]
    return "\\n".join(lines).replace("/", "\\/").replace("+", "\\u002B")


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000, 1 << 20])
def test_every_chunking_gives_the_same_bytes(chunk: int) -> None:
    body = (
        '{"caption": "a \\"quoted\\" caption", "x": {"data": "not this"},\n "data" : "'
        + mime_escaped(PAYLOAD)
        + '", "metadata": "hello"}'
    ).encode()
    data, plan = read(body, chunk)
    assert data == PAYLOAD
    assert (plan.caption, plan.metadata, plan.data) == ('a "quoted" caption', "hello", None)


@pytest.mark.parametrize(
    ("body", "caption"),
    [
        ({"caption": "only a caption"}, "only a caption"),
        ({"data": "", "caption": "empty data is no data"}, "empty data is no data"),
        ({"data": None, "caption": "null too"}, "null too"),
        ({"caption": "data", "note": "data"}, "data"),
    ],
)
def test_writes_without_data(body: dict[str, Any], caption: str) -> None:
    for chunk in (1, 4096):
        data, plan = read(json.dumps(body).encode(), chunk)
        assert data is None and plan.caption == caption and plan.data is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"data": 12}', "'data' must be a base64 string"),
        (b'{"data": "AAA*"}', "Invalid base64 data"),
        (b'{"data": "AA==AAAA"}', "Invalid base64 data"),
        (b'{"data": "AAAAA"}', "Invalid base64 data"),
        (b'{"data": "AA\\"AA"}', "Invalid base64 data"),
        (b'{"data": "AAAA", "caption": ', "Invalid JSON payload"),
        (b'{"data": "AAAA"', "Invalid JSON payload"),
        (b'{"data": "AAAA', "Invalid JSON payload"),
        (b'{"data": "AAAA", "data": "BBBB"}', "Invalid JSON payload"),
        (b'["data", "AAAA"]', "Invalid JSON payload"),
        (b'{"data": "AAAA", "caption": "\\ud800"}', "'caption' is not valid Unicode text"),
    ],
)
def test_bad_bodies_get_the_usual_400(body: bytes, error: str) -> None:
    for chunk in (1, 4096):
        with pytest.raises(ApiError) as raised:
            read(body, chunk)
        assert (raised.value.status, raised.value.message) == (400, error)


def test_everything_but_the_data_is_capped_at_1_mb() -> None:
    body = json.dumps({"data": "AAAA", "caption": "x" * (1024 * 1024)}).encode()
    with pytest.raises(ApiError) as raised:
        read(body, 65536)
    assert raised.value.status == 413


def base64_body(size: int, block: int = 3 * 1024 * 1024) -> Iterator[bytes]:
    """``{"data": "<base64 of size bytes>", "caption": "big"}``, made as it is sent."""
    yield b'{"caption": "big", "data": "'
    for start in range(0, size, block):
        yield base64.b64encode(bytes([start // block % 251]) * min(block, size - start))
    yield b'"}'


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_big_base64_upload_is_not_held_in_memory(tmp_path: Path) -> None:
    size = 96 * 1024 * 1024
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    server = Server("--port", str(free_port()), "--data-dir", str(tmp_path / "data"))
    try:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            created = client.post("/v1/datasets", json={"path": str(dataset)}).json()
            url = f"/v1/datasets/{created['id']}/files/big.bin"
            before = status_kb(server.proc.pid, "VmRSS")
            headers = {"content-type": "application/json"}
            response = client.post(url, content=base64_body(size), headers=headers)
            peak = status_kb(server.proc.pid, "VmHWM")
        assert response.status_code == 201, response.text
        assert response.json() == {
            "status": "created",
            "path": "big.bin",
            "caption_path": "big.txt",
        }
    finally:
        server.stop()
    assert (dataset / "big.bin").stat().st_size == size
    assert (dataset / "big.txt").read_text() == "big"
    # Before, the body was held four times over (about 500 MB for this one).
    assert (peak - before) * 1024 < size // 2, f"peak RSS rose {(peak - before) // 1024} MB"
