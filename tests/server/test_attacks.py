"""An attacker's view of the server: hostile paths, bodies, headers, arguments and files.

Every hostile request must get a 4xx ``{"error": "..."}``: never a 500, never a dropped
connection, never a read or a write outside the dataset, never a leftover file. The first
part runs in-process; the tests marked ``slow`` attack a real ``python -m datasety server``
over raw HTTP (see :class:`tests.server.jobkit.ServerProcess`).

What ``test_security.py`` already covers is not repeated here: ``%2e%2e``/``..%2F``/absolute
traversal for every method, file/folder/sidecar/metadata.csv symlinks pointing out, ``?folder=``
escapes, NUL and undecodable bytes in the URL, the Host check, CORS on/off, the token on
``/v1``.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.server.app import create_app
from datasety.server.errors import error_response
from datasety.server.middleware import same_origin
from datasety.server.settings import Settings

from .conftest import BASE_URL, make_image
from .jobkit import ServerProcess, ended, kill_leftover_jobs, wait_for, wait_job

TRAVERSAL = {"error": "Access denied: Path traversal detected"}


def files_in(folder: Path) -> list[str]:
    """Every path under ``folder`` (hidden and temporary files included), sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def assert_error(response: object, status: int, message: str | None = None) -> None:
    assert getattr(response, "status_code", None) == status, getattr(response, "text", "")
    body = response.json()  # type: ignore[attr-defined]
    # "field" (additive): the job argument an error is about.
    assert set(body) - {"field"} == {"error"} and isinstance(body["error"], str), body
    if message is not None:
        assert body["error"] == message


# -- listings -----------------------------------------------------------------------------------


def test_a_limit_0_page_does_not_empty_later_listings(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    # A plain listing is cached per version: a page of 0 entries used to be cached as the
    # whole listing, so one request emptied the dataset for every other client.
    for name in ("a.png", "b.png"):
        (dataset_dir / name).write_bytes(b"x")
    for group, key in (("false", "files"), ("true", "pairs")):
        page = client.get(files_url, params={"limit": 0, "group": group}).json()
        assert page == {key: [], "total": 2}
        whole = client.get(files_url, params={"group": group}).json()
        assert [e["base"] for e in whole[key]] == ["a", "b"]
        assert whole["total"] == 2


@pytest.mark.parametrize(("limit", "offset"), [(10**30, 0), (0, 10**30), (None, 10**30)])
def test_huge_limit_and_offset_are_fine(
    client: TestClient, files_url: str, dataset_dir: Path, limit: int | None, offset: int
) -> None:
    (dataset_dir / "a.png").write_bytes(b"x")
    params = {"offset": offset} if limit is None else {"limit": limit, "offset": offset}
    body = client.get(files_url, params=params).json()
    assert body["total"] == 1
    assert len(body["files"]) == (1 if limit and not offset else 0)


# -- names the file system cannot take, symlink loops -------------------------------------------


LONG_NAME = "a" * 256 + ".png"
DEEP_PATH = "/".join(["d" * 250] * 17) + "/x.png"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (LONG_NAME, "Invalid path: a name is longer than 255 bytes"),
        ("sub/" + "é" * 128 + ".png", "Invalid path: a name is longer than 255 bytes"),
        (DEEP_PATH, "Invalid path: longer than 4096 bytes"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_names_too_long_are_400_not_500(
    client: TestClient, files_url: str, dataset_dir: Path, path: str, message: str, method: str
) -> None:
    kwargs = {"json": {"caption": "x"}} if method in ("POST", "PUT") else {}
    assert_error(client.request(method, f"{files_url}/{path}", **kwargs), 400, message)
    assert_error(client.get(f"{files_url}/{path}?info=true"), 400, message)
    assert files_in(dataset_dir) == []


def test_a_folder_parameter_too_long_is_400(client: TestClient, files_url: str) -> None:
    response = client.get(files_url, params={"folder": LONG_NAME})
    assert_error(response, 400, "Invalid path: a name is longer than 255 bytes")


def test_symlink_loops_do_not_break_the_dataset(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "a.png").write_bytes(b"x")
    (dataset_dir / "self").symlink_to(dataset_dir / "self")
    (dataset_dir / "ping").symlink_to(dataset_dir / "pong")
    (dataset_dir / "pong").symlink_to(dataset_dir / "ping")
    (dataset_dir / "b.png").write_bytes(b"y")
    (dataset_dir / "b.txt").symlink_to(dataset_dir / "b.txt")
    # The listing skips what cannot be resolved and shows the rest.
    listed = client.get(files_url)
    assert listed.status_code == 200
    assert [e["base"] for e in listed.json()["files"]] == ["a", "b"]
    loop = "Invalid path: too many levels of symbolic links"
    for method, url, kwargs in [
        ("GET", "self", {}),
        ("GET", "ping/x.png", {}),
        ("POST", "self/new.png", {"json": {"caption": "x"}}),
        ("GET", "b.png?info=true", {}),
        ("PUT", "b.png", {"json": {"caption": "through the loop?"}}),
    ]:
        assert_error(client.request(method, f"{files_url}/{url}", **kwargs), 400, loop)
    assert_error(client.get(files_url, params={"folder": "pong"}), 400, loop)
    assert (dataset_dir / "b.txt").is_symlink()


@pytest.mark.parametrize("path", ["~no-such-user-here", "~no-such-user-here/x", "/" + "a" * 300])
def test_register_paths_that_cannot_resolve_are_400(client: TestClient, path: str) -> None:
    response = client.post("/v1/datasets", json={"path": path})
    assert_error(response, 400, "Provided path does not exist or is not a directory")


def test_register_a_symlink_loop_is_400(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for path in (tmp_path / "loop", tmp_path / "loop" / "x"):
        response = client.post("/v1/datasets", json={"path": str(path)})
        assert_error(response, 400, "Provided path does not exist or is not a directory")


def test_a_dataset_folder_turned_into_a_loop_is_gone(
    client: TestClient, tmp_path: Path, dataset: dict[str, object], dataset_dir: Path
) -> None:
    dataset_dir.rmdir()
    dataset_dir.symlink_to(dataset_dir)
    response = client.get(f"/v1/datasets/{dataset['id']}/files")
    assert_error(response, 404, "Dataset path no longer exists on disk")


# -- backslashes --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["..\\..\\outside\\x.png", "sub\\..\\..\\x.png", "\\etc\\x.png"])
def test_backslash_traversal_is_refused_too(
    client: TestClient, files_url: str, dataset_dir: Path, path: str
) -> None:
    # A plain name on POSIX, but a way out on Windows, where the folder may be shared.
    for kwargs in ({"content": b"x", "headers": {"content-type": "image/png"}}, {"json": {}}):
        response = client.post(f"{files_url}/{path}", **kwargs)  # type: ignore[arg-type]
        assert (response.status_code, response.json()) == (403, TRAVERSAL)
    assert files_in(dataset_dir) == []


def test_backslashes_without_dots_stay_plain_names(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    response = client.post(f"{files_url}/a\\b.png", content=b"x")
    assert (response.status_code, response.json()["path"]) == (201, "a\\b.png")
    assert (dataset_dir / "a\\b.png").read_bytes() == b"x"


# -- job arguments ------------------------------------------------------------------------------


@pytest.fixture
def no_leftover_jobs(data_dir: Path) -> Iterator[None]:
    yield
    kill_leftover_jobs(data_dir)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"command": "inspect", "args": {"input": "a\x00b"}}, "Parameter 'input' of inspect"),
        (
            {"command": "shuffle", "args": {"input": "i", "output": "o", "group": ["a", "b\x00"]}},
            "Parameter 'group' of shuffle",
        ),
        ({"command": "inspect", "args": {"directory": "\x00"}}, "Parameter 'directory' of inspect"),
    ],
)
def test_a_nul_byte_in_a_job_argument_is_400(
    client: TestClient, payload: dict[str, Any], message: str
) -> None:
    # It used to reach posix_spawn: a 500, and a row left "running" with no process.
    response = client.post("/v1/jobs", json=payload)
    assert_error(response, 400, f"{message} must not contain a NUL byte")
    assert client.get("/v1/jobs").json() == {"jobs": []}


def test_an_argv_the_os_refuses_fails_the_job_instead_of_leaving_it_running(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(job_id: str, argv: list[str], env: object = None) -> None:
        raise ValueError("embedded null byte")

    monkeypatch.setattr(client.app.state.runner.executor, "start", refuse)  # type: ignore[attr-defined]
    response = client.post("/v1/jobs", json={"command": "inspect", "args": {"input": "x"}})
    assert_error(response, 500, "Failed to start job: embedded null byte")
    (job,) = client.get("/v1/jobs").json()["jobs"]
    assert (job["status"], job["exit_code"]) == ("failed", None)
    assert job["ended_at"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"help": True}, "Unknown parameter 'help' for resize"),
        ({"-i": "x"}, "Unknown parameter '-i' for resize"),
        ({"i": "x"}, "Unknown parameter 'i' for resize"),
        ({"input": ["a", "--b"]}, "Parameter 'input' of resize expects a string, got a list"),
        (
            {"input": {"--help": True}},
            "Parameter 'input' of resize expects a string, got an object",
        ),
        ({"input": True}, "Parameter 'input' of resize expects a string, got true"),
        ({"input": "a", "--input": "b"}, "Parameter 'input' of resize is given twice"),
        ({"upscale": "--help"}, "Parameter 'upscale' of resize is a flag"),
    ],
)
def test_job_arguments_that_try_to_become_flags_are_400(
    client: TestClient, args: dict[str, Any], message: str
) -> None:
    response = client.post("/v1/jobs", json={"command": "resize", "args": args})
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message)
    assert client.get("/v1/jobs").json() == {"jobs": []}


@pytest.mark.parametrize(
    "command", [["resize"], {"name": "resize"}, 7, True, "server", "RESIZE", "../resize"]
)
def test_commands_outside_the_registry_are_400(client: TestClient, command: Any) -> None:
    response = client.post("/v1/jobs", json={"command": command, "args": {}})
    assert response.status_code == 400
    assert response.json()["error"].startswith(("Unknown command: ", "Command 'server' cannot"))
    assert client.get("/v1/jobs").json() == {"jobs": []}


@pytest.mark.usefixtures("no_leftover_jobs")
def test_flag_like_values_stay_values(client: TestClient, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    payload = {
        "command": "shuffle",
        "args": {"--input": missing, "output": "-o", "group": ["a|b", "--help", "-g"]},
    }
    first = client.post("/v1/jobs", json=payload)
    positional = client.post(
        "/v1/jobs", json={"command": "inspect", "args": {"directory": "--help"}}
    )
    assert (first.status_code, positional.status_code) == (202, 202)
    job = wait_job(client, first.json()["id"], ended)
    assert job["argv"][3:] == [
        "shuffle",
        "--input",
        missing,
        "--output=-o",
        "--group",
        "a|b",
        "--group=--help",
        "--group=-g",
    ]
    assert job["status"] == "failed" and "Usage:" not in "\n".join(job["output"])
    job = wait_job(client, positional.json()["id"], ended)
    assert job["argv"][3:] == ["inspect", "--", "--help"]
    assert job["status"] == "failed" and "Usage:" not in "\n".join(job["output"])


# -- what may be a dataset ----------------------------------------------------------------------

DATA_DIR_OVERLAP = (
    "Access denied: a dataset cannot contain or be inside the server's data directory"
)


def test_the_data_dir_and_its_ancestors_cannot_be_registered(
    client: TestClient, data_dir: Path, tmp_path: Path
) -> None:
    # A dataset there would let a client rewrite the job queue's argv in the SQLite file.
    (tmp_path / "alias").symlink_to(data_dir)
    for path in ("/", data_dir, data_dir / "jobs", tmp_path, tmp_path / "alias"):
        response = client.post("/v1/datasets", json={"path": str(path)})
        assert_error(response, 403, DATA_DIR_OVERLAP)
    assert client.get("/v1/datasets").json() == {"datasets": []}


def test_a_dataset_overlapping_the_data_dir_is_refused_on_access(
    client: TestClient, data_dir: Path, tmp_path: Path
) -> None:
    # Registered by a server before this check existed.
    store = client.app.state.store  # type: ignore[attr-defined]
    old, _ = store.add_dataset("old", str(tmp_path), "generic")
    for url in ("files", "files/data/datasety.sqlite3", "files/data/jobs"):
        assert_error(client.get(f"/v1/datasets/{old.id}/{url}"), 403, DATA_DIR_OVERLAP)
    put = client.put(f"/v1/datasets/{old.id}/files/data/datasety.sqlite3", content=b"x")
    assert_error(put, 403, DATA_DIR_OVERLAP)


def test_roots_follow_real_paths_both_ways(data_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "photos").mkdir(parents=True)
    (root / "swapped").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.png").write_bytes(b"secret")
    (tmp_path / "shortcut").symlink_to(root / "photos")
    app = create_app(Settings(data_dir=data_dir, roots=(root,)))
    with TestClient(app, base_url=BASE_URL) as client:
        # A link from outside into a root is fine: its real path is inside.
        via_link = client.post("/v1/datasets", json={"path": str(tmp_path / "shortcut")})
        assert via_link.status_code == 201
        assert via_link.json()["path"] == str(root / "photos")
        # A registered folder later swapped for a link out of the root is refused.
        swapped = client.post("/v1/datasets", json={"path": str(root / "swapped")}).json()
        (root / "swapped").rmdir()
        (root / "swapped").symlink_to(tmp_path / "outside")
        for url in ("files", "files/secret.png"):
            response = client.get(f"/v1/datasets/{swapped['id']}/{url}")
            assert_error(response, 403, "Access denied: path is outside the allowed roots")


# -- token --------------------------------------------------------------------------------------


def test_a_non_ascii_token_works_and_near_misses_do_not(data_dir: Path) -> None:
    token = "pässwört-🔑"
    app = create_app(Settings(data_dir=data_dir, token=token))
    with TestClient(app, base_url=BASE_URL) as client:
        for given in (token, token.upper(), token[:-1], token + "x", "pässwört"):
            headers = {"authorization": f"Bearer {given}".encode()}
            response = client.get("/v1/datasets", headers=headers)  # type: ignore[arg-type]
            if given == token:
                assert (response.status_code, response.json()) == (200, {"datasets": []})
            else:
                assert_error(response, 401, "Invalid token")


# -- refused writes leave nothing behind --------------------------------------------------------


@pytest.fixture
def small_client(data_dir: Path) -> Iterator[TestClient]:
    """A client for a server with a 1 MB upload limit."""
    app = create_app(Settings(data_dir=data_dir, max_upload_mb=1))
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


def test_refused_uploads_leave_no_folders_behind(
    small_client: TestClient, dataset_dir: Path
) -> None:
    (dataset_dir / "kept").mkdir()
    dataset = small_client.post("/v1/datasets", json={"path": str(dataset_dir)}).json()
    url = f"/v1/datasets/{dataset['id']}/files"

    def over_the_limit() -> Iterator[bytes]:
        for _ in range(3):
            yield b"y" * (512 * 1024)

    streamed = small_client.post(f"{url}/new/deep/big.bin", content=over_the_limit())
    assert_error(streamed, 413, "Request body too large (limit 1 MB)")
    short = small_client.post(
        f"{url}/kept/cut/short.bin",
        content=b"0123456789",
        headers={"content-type": "application/octet-stream", "content-length": "100"},
    )
    assert_error(short, 400, "Incomplete request body: expected 100 bytes, got 10")
    assert files_in(dataset_dir) == ["kept"]


def test_a_path_through_a_file_is_a_conflict_not_a_server_error(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "a.png").write_bytes(b"img")
    message = "Failed to save file: a folder on its path is a file"
    for kwargs in (
        {"content": b"raw", "headers": {"content-type": "image/png"}},
        {"json": {"data": "cmF3"}},
        {"json": {"caption": "c"}},
    ):
        response = client.post(f"{files_url}/a.png/inner/b.png", **kwargs)  # type: ignore[arg-type]
        assert_error(response, 409, message)
    assert files_in(dataset_dir) == ["a.png"]
    assert (dataset_dir / "a.png").read_bytes() == b"img"


# -- downloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("page.html", "text/html"), ("logo.svg", "image/svg+xml"), ("notes.txt", "text/plain")],
)
def test_dataset_files_cannot_script_the_uis_origin(
    client: TestClient, files_url: str, dataset_dir: Path, name: str, content_type: str
) -> None:
    # The UI links every file ("Open file"): a dataset's own page must not run as the UI.
    payload = b"<script>fetch('/v1/jobs', {method: 'POST'})</script>"
    (dataset_dir / name).write_bytes(payload)
    response = client.get(f"{files_url}/{name}")
    assert response.status_code == 200 and response.content == payload
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("value", "status", "message"),
    [
        ("bytes=5-1", 400, "Invalid Range header: start must be less than end"),
        ("bytes=abc", 400, "Invalid Range header: range must be requested"),
        ("items=0-1", 400, "Invalid Range header: Only support bytes range"),
        ("bytes", 400, "Invalid Range header: Malformed range header"),
        ("bytes=100-", 416, "Range not satisfiable"),
        ("bytes=-0", 416, "Range not satisfiable"),
    ],
)
def test_bad_ranges_answer_the_error_shape(
    client: TestClient, files_url: str, dataset_dir: Path, value: str, status: int, message: str
) -> None:
    (dataset_dir / "data.bin").write_bytes(bytes(range(100)))
    response = client.get(f"{files_url}/data.bin", headers={"range": value})
    assert_error(response, status, message)
    if status == 416:
        assert response.headers["content-range"] == "bytes */100"


def test_odd_but_valid_ranges_still_work(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "data.bin").write_bytes(bytes(range(100)))
    url = f"{files_url}/data.bin"
    suffix = client.get(url, headers={"range": "bytes=-99999999999999999999"})
    assert (suffix.status_code, suffix.content) == (206, bytes(range(100)))
    merged = client.get(url, headers={"range": "bytes=0-0,0-0,0-0"})
    assert (merged.status_code, merged.content) == (206, b"\x00")
    # With If-Range that does not match, the Range is ignored: the whole file, not a 400.
    ignored = client.get(url, headers={"range": "bytes=5-1", "if-range": '"other"'})
    assert (ignored.status_code, ignored.content) == (200, bytes(range(100)))


# -- JSON bodies --------------------------------------------------------------------------------

DEEP_JSON = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_deeply_nested_json_is_invalid_json_not_a_500(
    client: TestClient, dataset: dict[str, Any], dataset_dir: Path
) -> None:
    (dataset_dir / "a.png").write_bytes(b"img")
    files = f"/v1/datasets/{dataset['id']}/files"
    for method, url in [
        ("POST", "/v1/datasets"),
        ("PATCH", f"/v1/datasets/{dataset['id']}"),
        ("POST", "/v1/jobs"),
        ("POST", f"{files}/b.png"),
        ("PUT", f"{files}/a.png"),
    ]:
        response = client.request(
            method, url, content=DEEP_JSON, headers={"content-type": "application/json"}
        )
        assert_error(response, 400, "Invalid JSON payload")
    assert files_in(dataset_dir) == ["a.png"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"command": "\\ud800"}', "'command' is not valid Unicode text"),
        (
            b'{"command": "inspect", "args": {"input": "\\udfff"}}',
            "'args' is not valid Unicode text",
        ),
        (b'{"command": "inspect", "args": {"\\ud800": 1}}', "'args' is not valid Unicode text"),
        (
            b'{"command": "shuffle", "args": {"group": ["a", "\\ud800"]}}',
            "'args' is not valid Unicode text",
        ),
        (b'{"\\ud800": 1, "command": "inspect"}', "Invalid JSON payload"),
    ],
)
def test_lone_surrogates_in_a_job_are_400_and_the_job_list_survives(
    client: TestClient, body: bytes, message: str
) -> None:
    # A lone surrogate used to be stored in a failed row's argv: GET /v1/jobs then answered
    # 500 for good, since that row could never be encoded again.
    response = client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert_error(response, 400, message)
    assert client.get("/v1/jobs").json() == {"jobs": []}


def test_an_error_quoting_bad_text_still_renders() -> None:
    response = error_response(400, "Unknown command: \ud800")
    assert response.body == b'{"error":"Unknown command: ?"}'


# -- CORS ---------------------------------------------------------------------------------------

UI_ORIGIN = "http://ui.example:5173"


def test_cors_with_a_token_and_refused_preflights(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, token="t0ken", cors_origins=(UI_ORIGIN,))
    with TestClient(create_app(settings), base_url=BASE_URL) as client:

        def preflight(origin: str, method: str = "POST", headers: str = "authorization") -> Any:
            return client.options(
                "/v1/jobs",
                headers={
                    "origin": origin,
                    "access-control-request-method": method,
                    "access-control-request-headers": headers,
                },
            )

        # A preflight carries no credentials by design: it is answered without the token.
        ok = preflight(UI_ORIGIN)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == UI_ORIGIN
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        for origin, method, headers, problem in [
            ("http://evil.example", "POST", "authorization", "origin"),
            ("http://ui.example:5174", "POST", "authorization", "origin"),
            ("null", "POST", "authorization", "origin"),
            (UI_ORIGIN, "TRACE", "authorization", "method"),
            (UI_ORIGIN, "POST", "x-evil", "headers"),
        ]:
            refused = preflight(origin, method, headers)
            assert_error(refused, 400, f"Disallowed CORS {problem}")
            assert refused.headers.get("access-control-allow-origin") in (None, UI_ORIGIN)
            if problem == "origin":
                assert "access-control-allow-origin" not in refused.headers
        # The real request still needs the token; its 401 is readable by the allowed origin.
        denied = client.get("/v1/datasets", headers={"origin": UI_ORIGIN})
        assert_error(denied, 401, "Missing bearer token")
        assert denied.headers["access-control-allow-origin"] == UI_ORIGIN
        other = client.get(
            "/v1/datasets",
            headers={"origin": "http://evil.example", "authorization": "Bearer t0ken"},
        )
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


def test_a_folder_where_a_sidecar_goes_is_a_conflict(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "a.png").write_bytes(b"img")
    (dataset_dir / "a.txt").mkdir()
    (dataset_dir / "b.wav").write_bytes(b"RIFF")
    (dataset_dir / "metadata.csv").mkdir()
    caption = client.put(f"{files_url}/a.png", json={"caption": "c"})
    assert_error(caption, 409, "Failed to save file: Is a directory")
    metadata = client.post(f"{files_url}/b.wav", json={"metadata": "m"})
    assert_error(metadata, 409, "Failed to save file: Is a directory")
    assert files_in(dataset_dir) == ["a.png", "a.txt", "b.wav", "metadata.csv"]


# -- a real server over raw HTTP ----------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> str:
        """The ``error`` of a ``{"error": ...}`` body (asserting that shape)."""
        assert self.headers.get("content-type") == "application/json", (self.status, self.body)
        body = json.loads(self.body)
        assert set(body) == {"error"} and isinstance(body["error"], str), body
        return str(body["error"])


def exchange(port: int, head: str, body: Iterable[bytes] = ()) -> Answer:
    """Send ``head`` (a request line and headers, no blank line) and ``body`` as is, then read
    the whole answer (``Connection: close``). A server may answer before the body is all
    sent (413): sending stops there."""
    request = head.replace("\n", "\r\n") + "\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request.encode("latin-1"))
        for chunk in body:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # the answer, if any, came before the reset
    assert received, f"no answer to {head.splitlines()[0]!r}: the connection was dropped"
    status_line, _, rest = received.partition(b"\r\n")
    raw_headers, _, payload = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in raw_headers.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, payload)


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: a file's bytes, a link's target, ``"dir"``."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[rel] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = path.read_bytes()
    return found


@dataclass
class Target:
    server: ServerProcess
    files: str  # the dataset's files URL path
    dataset: Path
    outside: Path

    @property
    def port(self) -> int:
        return self.server.port

    def state(self) -> tuple[dict[str, bytes | str], dict[str, bytes | str]]:
        return snapshot(self.dataset), snapshot(self.outside)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A real server (1 MB upload limit) with a dataset full of traps pointing outside."""
    base = tmp_path_factory.mktemp("attacks")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"top secret")
    (outside / "secret.png").write_bytes(b"secret image")
    (outside / "meta.csv").write_bytes(b"voice|secret row\n")
    dataset = base / "dataset"
    (dataset / "sub").mkdir(parents=True)
    make_image(dataset / "photo.png")
    (dataset / "photo.txt").write_bytes(b"a red square")
    (dataset / "victim.png").write_bytes(b"victim")
    (dataset / "victim.txt").symlink_to(outside / "secret.txt")
    (dataset / "voice.wav").write_bytes(b"RIFF")
    (dataset / "metadata.csv").symlink_to(outside / "meta.csv")
    (dataset / "link_out.png").symlink_to(outside / "secret.png")
    (dataset / "dir_out").symlink_to(outside)
    server = ServerProcess(base / "data", "--max-upload-mb", "1").start()
    registered = server.client().post("/v1/datasets", json={"path": str(dataset)})
    assert registered.status_code == 201, registered.text
    try:
        yield Target(server, f"/v1/datasets/{registered.json()['id']}/files", dataset, outside)
    finally:
        server.stop()
    assert "Traceback" not in server.later_output, server.later_output


RAW_TRAVERSALS = [
    ("../../outside/secret.txt", 403),
    ("%2e%2e/%2e%2e/outside/secret.txt", 403),
    ("%2E%2E%2F%2E%2E%2Foutside%2Fsecret.txt", 403),
    ("..%2f..%2foutside%2fsecret.txt", 403),
    ("sub/../../outside/secret.txt", 403),
    ("./../outside/secret.txt", 403),
    ("..\\..\\outside\\secret.txt", 403),
    ("..%5c..%5coutside%5csecret.txt", 403),
    ("%5c..%5c..%5coutside%5csecret.txt", 403),
    ("/etc/passwd", 403),
    ("%2fetc%2fpasswd", 403),
    ("link_out.png", 403),
    ("dir_out/secret.txt", 403),
    ("dir_out%2fsecret.txt", 403),
    ("photo.png%00.txt", 400),
    ("%00", 400),
    ("%c0%ae%c0%ae/%c0%ae%c0%ae/outside/secret.txt", 400),
    ("%e0%80%ae%e0%80%ae/secret.txt", 400),
    ("%ff%fe", 400),
]


@pytest.mark.slow
def test_raw_traversal_variants_never_leave_the_dataset(target: Target) -> None:
    before = target.state()
    for path, status in RAW_TRAVERSALS:
        for method, extra, body in [
            ("GET", "", b""),
            ("GET", "?info=true", b""),
            ("GET", "?thumb=64", b""),
            ("DELETE", "?caption=true", b""),
            ("PUT", "", b'{"caption": "pwned", "data": "cHduZWQ="}'),
            ("POST", "", b'{"caption": "pwned", "metadata": "pwned"}'),
            ("POST", "", b"raw pwned bytes"),
        ]:
            kind = "application/json" if body.startswith(b"{") else "application/octet-stream"
            head = (
                f"{method} {target.files}/{path}{extra} HTTP/1.1\nHost: localhost\n"
                f"Content-Type: {kind}\nContent-Length: {len(body)}"
            )
            answer = exchange(target.port, head, [body])
            assert answer.status == status, (method, path, answer)
            answer.error()
    # Double encoding decodes once, to a plain (missing) name inside the dataset.
    double = exchange(
        target.port,
        f"GET {target.files}/%252e%252e/%252e%252e/outside/secret.txt HTTP/1.1\nHost: localhost",
    )
    assert (double.status, double.error()) == (404, "File not found")
    assert target.state() == before


@pytest.mark.slow
def test_raw_folder_escapes_are_refused(target: Target) -> None:
    for folder, status in [
        ("..", 403),
        ("%2e%2e", 403),
        ("..%2f..", 403),
        ("sub%2f..%2f..", 403),
        ("%2fetc", 403),
        ("dir_out", 403),
        ("..%5c..", 403),
        ("%00", 400),
        ("sub%00", 400),
        ("%c0%ae%c0%ae", 400),
    ]:
        answer = exchange(target.port, f"GET {target.files}?folder={folder} HTTP/1.1\nHost: x")
        # Host "x" is refused first: the check runs before anything else.
        assert (answer.status, answer.error()) == (403, "Access denied: Host 'x' is not allowed")
        answer = exchange(
            target.port, f"GET {target.files}?folder={folder} HTTP/1.1\nHost: localhost"
        )
        assert answer.status == status, (folder, answer)
        answer.error()


@pytest.mark.slow
def test_symlinked_sidecar_and_metadata_are_never_written_through(target: Target) -> None:
    before = target.state()
    client = target.server.client()
    for method, path, payload in [
        ("PUT", "victim.png", {"caption": "overwrite the secret"}),
        ("POST", "victim.png", {"caption": "overwrite the secret"}),
        ("PUT", "voice.wav", {"metadata": "overwrite the row"}),
        ("POST", "new.wav", {"metadata": "overwrite the row"}),
        ("PUT", "victim.png", {"data": "bmV3", "caption": "x"}),
    ]:
        response = client.request(method, f"{target.files}/{path}", json=payload)
        assert (response.status_code, response.json()) == (403, TRAVERSAL), (method, path)
    for url in ("victim.png?info=true", "voice.wav?info=true"):
        response = client.get(f"{target.files}/{url}")
        assert (response.status_code, response.json()) == (403, TRAVERSAL)
    deleted = client.delete(f"{target.files}/victim.png?caption=true")
    assert (deleted.status_code, deleted.json()) == (403, TRAVERSAL)
    listing = client.get(target.files)
    assert listing.status_code == 200
    assert b"secret" not in listing.content and b"top secret" not in listing.content
    assert target.state() == before


@pytest.mark.slow
def test_host_header_rebinding(target: Target) -> None:
    port = target.port
    for host, allowed in [
        (f"localhost:{port}", True),
        (f"127.0.0.1:{port}", True),
        (f"[::1]:{port}", True),
        ("LocalHost", True),
        ("evil.com", False),
        (f"evil.com:{port}", False),
        ("localhost.evil.com", False),
        ("127.0.0.1.nip.io", False),
        ("localhost@evil.com", False),
    ]:
        answer = exchange(port, f"GET /v1/datasets HTTP/1.1\nHost: {host}")
        if allowed:
            assert answer.status == 200, (host, answer)
        else:
            assert answer.status == 403, (host, answer)
            assert answer.error().startswith("Access denied: Host")
    # HTTP/1.0 without a Host header: no name to trust.
    answer = exchange(port, "GET /v1/datasets HTTP/1.0")
    assert (answer.status, answer.error()) == (403, "Access denied: Host '' is not allowed")


@pytest.mark.slow
def test_bodies_over_the_limit_or_cut_short_leave_nothing(target: Target) -> None:
    before = target.state()
    megabyte = 1024 * 1024
    declared = exchange(
        target.port,
        f"POST {target.files}/new/big.bin HTTP/1.1\nHost: localhost\n"
        f"Content-Type: application/octet-stream\nContent-Length: {megabyte + 1}",
        [b"x" * 65536],
    )
    assert (declared.status, declared.error()) == (413, "Request body too large (limit 1 MB)")
    json_too = exchange(
        target.port,
        f"POST /v1/datasets HTTP/1.1\nHost: localhost\nContent-Type: application/json\n"
        f"Content-Length: {2 * megabyte}",
        [b'{"path": "' + b"a" * 65536],
    )
    assert (json_too.status, json_too.error()) == (413, "Request body too large (limit 1 MB)")

    def chunked(total: int) -> Iterator[bytes]:
        piece = b"y" * 65536
        for _ in range(total // len(piece)):
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
        yield b"0\r\n\r\n"

    for path in ("new/deeper/chunked.bin", "sub/chunked.bin"):
        answer = exchange(
            target.port,
            f"POST {target.files}/{path} HTTP/1.1\nHost: localhost\n"
            "Content-Type: application/octet-stream\nTransfer-Encoding: chunked",
            chunked(2 * megabyte),
        )
        assert (answer.status, answer.error()) == (413, "Request body too large (limit 1 MB)")
    # A client that promises more than it sends and hangs up: nothing may stay behind.
    for method, path in (("POST", "cut/short.bin"), ("PUT", "photo.png")):
        with socket.create_connection(("127.0.0.1", target.port), timeout=20) as sock:
            sock.sendall(
                f"{method} {target.files}/{path} HTTP/1.1\r\nHost: localhost\r\n"
                "Content-Type: image/png\r\nContent-Length: 5000\r\n\r\n0123456789".encode()
            )
            sock.shutdown(socket.SHUT_WR)
            sock.recv(65536)  # whatever comes, if anything: the client is gone
    wait_for(lambda: target.state() == before, 10, "refused uploads to leave nothing")
    # Still the same server, still answering.
    assert target.server.client().get(target.files).status_code == 200


@pytest.mark.slow
def test_the_token_guards_all_data_and_only_data(tmp_path: Path) -> None:
    """Decision: every ``/v1`` URL needs the token, whatever it serves (JSON, file bytes,
    thumbnails, the SSE log, the command list, unknown paths); the web UI's page and assets,
    ``/docs`` and ``/openapi.json`` hold no data and load without it (the UI then asks for
    the token)."""
    dataset = tmp_path / "dataset"
    make_image(dataset / "photo.png")
    (dataset / "photo.txt").write_text("a caption")
    server = ServerProcess(tmp_path / "data", "--token", "s3cret-token").start()
    try:
        good = {"Authorization": "Bearer s3cret-token"}
        client = server.client()
        created = client.post("/v1/datasets", json={"path": str(dataset)}, headers=good)
        files = f"/v1/datasets/{created.json()['id']}/files"
        job = client.post(
            "/v1/jobs", json={"command": "inspect", "args": {"input": str(dataset)}}, headers=good
        )
        assert job.status_code == 202
        guarded = [
            ("GET", "/v1/datasets"),
            ("GET", files),
            ("GET", f"{files}/photo.png"),
            ("GET", f"{files}/photo.png?info=true"),
            ("GET", f"{files}/photo.png?thumb=64"),
            ("PUT", f"{files}/photo.png"),
            ("DELETE", f"{files}/photo.png"),
            ("GET", "/v1/jobs"),
            ("GET", f"/v1/jobs/{job.json()['id']}/logs?follow=true"),
            ("DELETE", f"/v1/jobs/{job.json()['id']}"),
            ("GET", "/v1/commands"),
            ("GET", "/v1/nowhere"),
            ("GET", "/v1/../v1/datasets"),
            ("GET", "/%76%31/datasets"),
        ]
        for headers, message in [
            ({}, "Missing bearer token"),
            ({"Authorization": "Bearer s3cret-tokeN"}, "Invalid token"),
            ({"Authorization": "Bearer s3cret-token-and-more"}, "Invalid token"),
            ({"Authorization": "Basic s3cret-token"}, "Missing bearer token"),
            ({"Authorization": "s3cret-token"}, "Missing bearer token"),
        ]:
            for method, url in guarded:
                line = "\n".join(f"{k}: {v}" for k, v in headers.items())
                head = f"{method} {url} HTTP/1.1\nHost: localhost" + (f"\n{line}" if line else "")
                answer = exchange(server.port, head)
                assert (answer.status, answer.error()) == (401, message), (method, url, headers)
                assert answer.headers["www-authenticate"] == "Bearer"
        for url in ("/", "/app.js", "/docs", "/openapi.json"):
            assert exchange(server.port, f"GET {url} HTTP/1.1\nHost: localhost").status == 200
        # A doubled slash is no way around the token: it matches no route at all.
        answer = exchange(server.port, "GET //v1/datasets HTTP/1.1\nHost: localhost")
        assert (answer.status, answer.error()) == (404, "Endpoint not found")
        photo = client.get(f"{files}/photo.png?thumb=64", headers=good)
        assert (photo.status_code, photo.headers["content-type"]) == (200, "image/jpeg")
        assert client.get("/v1/commands", headers=good).status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.later_output, server.later_output


def test_the_token_is_compared_in_constant_time(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Timing itself is no pass/fail test; what compares the token is.
    seen: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        seen.append((given, expected))
        return compare(given, expected)

    monkeypatch.setattr("datasety.server.middleware.hmac.compare_digest", spy)
    app = create_app(Settings(data_dir=data_dir, token="t0ken"))
    with TestClient(app, base_url=BASE_URL) as client:
        assert (
            client.get("/v1/datasets", headers={"authorization": "Bearer nope"}).status_code == 401
        )
        assert (
            client.get("/v1/datasets", headers={"authorization": "Bearer t0ken"}).status_code == 200
        )
    assert seen == [(b"nope", b"t0ken"), (b"t0ken", b"t0ken")]


# -- cross-site requests (CSRF) -----------------------------------------------------------------


def test_another_site_cannot_make_the_browser_start_a_job(
    client: TestClient, tmp_path: Path
) -> None:
    # A "simple" cross-site request: no preflight, so CORS alone never stops it.
    body = json.dumps({"command": "inspect", "args": {"input": str(tmp_path)}})
    # (https://localhost is not here: behind a TLS proxy the browser's https origin names the
    # Host the proxy forwards, so the scheme cannot be compared.)
    for origin in ("http://evil.example", "null", "http://localhost.evil.example"):
        for content_type in ("text/plain;charset=UTF-8", "application/x-www-form-urlencoded"):
            response = client.post(
                "/v1/jobs", content=body, headers={"content-type": content_type, "origin": origin}
            )
            message = f"Access denied: cross-site request from origin '{origin}'"
            assert_error(response, 403, message)
    folder = tmp_path / "photos"
    folder.mkdir()
    registered = client.post(
        "/v1/datasets", json={"path": str(folder)}, headers={"origin": "http://evil.example"}
    )
    assert registered.status_code == 403
    assert client.get("/v1/jobs").json() == {"jobs": []}
    assert client.get("/v1/datasets").json() == {"datasets": []}


def test_the_servers_own_page_and_plain_clients_may_write(
    client: TestClient, dataset: dict[str, Any], dataset_dir: Path
) -> None:
    (dataset_dir / "a.png").write_bytes(b"img")
    url = f"/v1/datasets/{dataset['id']}"
    # The web UI: same origin as the Host it talks to (the test client sends Host: localhost).
    for origin in ("http://localhost", "http://LOCALHOST:80"):
        response = client.patch(url, json={"name": "renamed"}, headers={"origin": origin})
        assert response.status_code == 200, response.text
    # curl, scripts: no Origin at all.
    assert client.put(f"{url}/files/a.png", json={"caption": "c"}).status_code == 200
    # Reads never change anything: another site may ask, CORS keeps the answer from it.
    listed = client.get(url, headers={"origin": "http://evil.example"})
    assert listed.status_code == 200 and "access-control-allow-origin" not in listed.headers
    for method in ("PUT", "DELETE", "PATCH"):
        response = client.request(
            method, f"{url}/files/a.png", json={}, headers={"origin": "http://evil.example"}
        )
        assert response.status_code == 403
    assert (dataset_dir / "a.png").read_bytes() == b"img"


def test_a_cors_origin_may_write(data_dir: Path, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=data_dir, cors_origins=(UI_ORIGIN,)))
    folder = tmp_path / "photos"
    folder.mkdir()
    with TestClient(app, base_url=BASE_URL) as client:
        response = client.post(
            "/v1/datasets", json={"path": str(folder)}, headers={"origin": UI_ORIGIN}
        )
        assert response.status_code == 201
        assert response.headers["access-control-allow-origin"] == UI_ORIGIN
        other = client.post(
            "/v1/datasets", json={"path": str(folder)}, headers={"origin": "http://ui.example"}
        )
        assert other.status_code == 403


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1:8080", True),
        ("http://[::1]:8080", "[::1]:8080", True),
        ("https://datasets.example", "datasets.example", True),
        ("https://datasets.example", "datasets.example:443", True),
        ("http://datasets.example", "datasets.example:443", False),
        ("http://127.0.0.1:8081", "127.0.0.1:8080", False),
        ("http://localhost:8080", "127.0.0.1:8080", False),
        ("null", "127.0.0.1:8080", False),
        ("http://127.0.0.1:99999", "127.0.0.1:99999", False),
        ("", "", False),
    ],
)
def test_same_origin(origin: str, host: str, same: bool) -> None:
    assert same_origin(origin, host) is same


def test_json_that_is_not_an_upload_is_capped_at_1_mb(
    client: TestClient, dataset: dict[str, Any], dataset_dir: Path
) -> None:
    # The upload limit (1 GB by default) would let one request cost gigabytes of parsed JSON.
    huge = json.dumps({"command": "inspect", "args": {"input": "x" * (1024 * 1024)}}).encode()

    def streamed() -> Iterator[bytes]:  # no Content-Length: the cap holds while reading
        yield huge

    for method, url in [
        ("POST", "/v1/jobs"),
        ("POST", "/v1/datasets"),
        ("PATCH", f"/v1/datasets/{dataset['id']}"),
    ]:
        for content in (huge, streamed()):
            response = client.request(
                method, url, content=content, headers={"content-type": "application/json"}
            )
            assert_error(response, 413, "Request body too large (limit 1 MB)")
    assert client.get("/v1/jobs").json() == {"jobs": []}
    # A base64 upload is a file: it keeps the upload limit.
    data = bytes(range(256)) * 6000  # 1.5 MB, 2 MB as base64
    upload = client.post(
        f"/v1/datasets/{dataset['id']}/files/big.bin",
        json={"data": base64.b64encode(data).decode()},
    )
    assert upload.status_code == 201
    assert (dataset_dir / "big.bin").read_bytes() == data


# -- metadata.csv injection ---------------------------------------------------------------------

BAD_TEXT = "metadata text must not contain '|' or line breaks"
BAD_NAME = "A metadata.csv row cannot name a file with '|' or a line break in its name"


@pytest.mark.parametrize(
    ("path", "metadata", "status", "message"),
    [
        ("voice.wav", "one\u2028other|INJECTED", 400, BAD_TEXT),
        ("voice.wav", "one\x1cother", 400, BAD_TEXT),
        ("voice.wav", "one\x85two", 400, BAD_TEXT),
        ("a%7Cb.wav", "INJECTED", 400, BAD_NAME),
        ("x%E2%80%A8other.wav", "INJECTED", 400, BAD_NAME),
        ("x%1Cother.wav", "INJECTED", 400, BAD_NAME),
        # A "\n" in a URL path matches no route at all (Starlette's path pattern stops there).
        ("x%0Aother.wav", "INJECTED", 404, "Endpoint not found"),
    ],
)
def test_metadata_rows_cannot_be_injected(
    client: TestClient,
    files_url: str,
    dataset_dir: Path,
    path: str,
    metadata: str,
    status: int,
    message: str,
) -> None:
    (dataset_dir / "voice.wav").write_bytes(b"RIFF")
    original = b"other|the real text\r\nvoice|hello\r\n"
    (dataset_dir / "metadata.csv").write_bytes(original)
    response = client.post(f"{files_url}/{path}", json={"metadata": metadata})
    assert_error(response, status, message)
    assert (dataset_dir / "metadata.csv").read_bytes() == original
    assert files_in(dataset_dir) == ["metadata.csv", "voice.wav"]
