"""Bounded memory for requests that decode or decode-and-encode: thumbnails of a huge image.

A real ``datasety server`` process; its resident memory is read from ``/proc``.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import httpx
import pytest
import pyvips
from fastapi.testclient import TestClient

from datasety.server.files import thumbnails
from tests.server.conftest import make_image
from tests.server.test_process import Server, free_port

MB = 1024 * 1024


def huge_png(path: Path, side: int = 12000) -> Path:
    """A ``side`` x ``side`` RGB PNG that compresses well (slow horizontal bands), made by
    libvips a few lines at a time, so making it costs little memory either."""
    rows = pyvips.Image.xyz(side, side)[1] // 97
    image = (rows % 200).cast("uchar").bandjoin([(rows % 50 + 100).cast("uchar"), 60])
    image.pngsave(str(path), compression=6)
    return path


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_four_concurrent_thumbnails_of_a_12000x12000_png(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    huge_png(dataset / "huge.png")
    huge_png(dataset / "small.png", side=300)
    server = Server("--port", str(free_port()), "--data-dir", str(tmp_path / "data"))
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            created = client.post("/v1/datasets", json={"path": str(dataset)}).json()
            files = f"/v1/datasets/{created['id']}/files"
            # Warm-up: libvips loaded and its threads started before the baseline.
            assert client.get(f"{files}/small.png?thumb=64").status_code == 200
            before = status_kb(server.proc.pid, "VmRSS")
            answers: dict[int, httpx.Response] = {}

            def fetch(size: int) -> None:
                answers[size] = client.get(f"{files}/huge.png", params={"thumb": size})

            # Four sizes, so four renders (one size would be made once and then cached).
            threads = [threading.Thread(target=fetch, args=(s,)) for s in (64, 128, 256, 512)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            peak = status_kb(server.proc.pid, "VmHWM")
        for size, response in answers.items():
            assert response.status_code == 200, response.text
            thumb = pyvips.Image.new_from_buffer(response.content, "")
            assert (thumb.width, thumb.height) == (size, size)
        assert (peak - before) * 1024 < 300 * MB, f"peak RSS rose {(peak - before) // 1024} MB"
    finally:
        server.stop()


def test_an_image_over_the_pixel_budget_is_refused_before_decoding(
    client: TestClient, files_url: str, dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(thumbnails, "MAX_PIXELS", 300 * 200 - 1)
    make_image(dataset_dir / "wide.png", size=(300, 200))
    response = client.get(f"{files_url}/wide.png?thumb=64")
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "Cannot make a thumbnail of wide.png: 300x200 is 60,000 pixels, more than "
            "the 59,999 allowed"
        },
    )
    assert not list((dataset_dir.parent / "data" / "thumbs").rglob("*.jpg"))
