"""A folder flipped between a real folder and a symlink out of the dataset while requests run
against a real server: no read returns an outside file, no write or delete lands outside.

Before paths were walked through directory descriptors, a check-then-open let about one read in
seven through and put files outside (issue 10); the flipping thread makes that race easy to win.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from .jobkit import ServerProcess
from .test_attacks import snapshot

SECRET = b"OUTSIDE-SECRET"
RUN_SECONDS = 4.0
CLIENTS = 6


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), color).save(out, "PNG")
    return out.getvalue()


@dataclass
class Arena:
    base: str  # the dataset's files URL
    dataset: Path
    outside: Path
    stop: threading.Event = field(default_factory=threading.Event)
    leaks: list[str] = field(default_factory=list)
    answers: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, what: str, response: httpx.Response) -> None:
        with self.lock:
            self.answers[response.status_code] = self.answers.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                self.leaks.append(f"{what}: {response.status_code} {response.text[:200]}")
            elif SECRET in response.content or b"RED-OUTSIDE" in response.content:
                self.leaks.append(f"{what}: {response.content[:80]!r}")


@pytest.fixture
def arena(tmp_path: Path) -> Iterator[tuple[Arena, ServerProcess]]:
    dataset, outside = tmp_path / "dataset", tmp_path / "outside"
    (dataset / "sub").mkdir(parents=True)
    outside.mkdir()
    for folder, text in ((dataset / "sub", b"inside caption"), (outside, SECRET)):
        (folder / "a.txt").write_bytes(text)
        (folder / "a.png").write_bytes(png((0, 0, 255)) if folder != outside else png((255, 0, 0)))
        (folder / "metadata.csv").write_bytes(b"v|" + text + b"\n")
        (folder / "v.wav").write_bytes(b"RIFF" + text)
        for index in range(CLIENTS * 200):
            (folder / f"victim-{index}.png").write_bytes(text)
    # An outside image whose thumbnail would show as pure red.
    (outside / "a.png").write_bytes(png((255, 0, 0)))
    server = ServerProcess(tmp_path / "data").start()
    try:
        registered = server.client().post("/v1/datasets", json={"path": str(dataset)})
        assert registered.status_code == 201
        base = f"{server.base_url}/v1/datasets/{registered.json()['id']}/files"
        yield Arena(base, dataset, outside), server
    finally:
        server.stop()
    assert "Traceback" not in server.later_output, server.later_output


def flip(arena: Arena) -> int:
    """Swap ``sub`` between the real folder and a symlink to ``outside`` until told to stop."""
    sub, real, link = arena.dataset / "sub", arena.dataset / ".sub-real", arena.dataset / ".link"
    flips = 0
    while not arena.stop.is_set():
        try:
            os.rename(sub, real)
            os.symlink(arena.outside, link)
            os.rename(link, sub)
            time.sleep(0.0005)
            os.unlink(sub)
            os.rename(real, sub)
        except OSError:
            # A write made "sub" while it was missing: put that folder aside, the real back.
            restore(arena, f".stray-{flips}")
        flips += 1
        time.sleep(0.0005)
    return flips


def restore(arena: Arena, stray: str) -> None:
    """Put the real folder back as ``sub`` (a folder a write made meanwhile goes aside)."""
    sub, real, link = arena.dataset / "sub", arena.dataset / ".sub-real", arena.dataset / ".link"
    for attempt in range(1000):
        try:
            if link.is_symlink():
                link.unlink()
            if sub.is_symlink():
                sub.unlink()
            if not real.exists():
                return
            if sub.exists():
                sub.rename(arena.dataset / f"{stray}-{attempt}")
            real.rename(sub)
            return
        except OSError:
            continue  # a write made "sub" again in between: once more
    raise AssertionError("could not put the real folder back")


def is_red(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        r, g, b = image.convert("RGB").getpixel((image.width // 2, image.height // 2))  # type: ignore[misc]
    return bool(r > 200 and b < 60)


def requests(index: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    """One round of reads, writes and deletes under the flipping folder."""
    text, image = {"content-type": "text/plain"}, {"content-type": "image/png"}
    return [
        ("GET a.txt", "GET", "sub/a.txt", {}),
        ("GET range", "GET", "sub/a.txt", {"headers": {"range": "bytes=0-5"}}),
        ("GET info", "GET", "sub/a.png", {"params": {"info": "true"}}),
        ("GET wav info", "GET", "sub/v.wav", {"params": {"info": "true"}}),
        ("PUT a.txt", "PUT", "sub/a.txt", {"content": b"inside caption", "headers": text}),
        ("PUT caption", "PUT", "sub/a.png", {"json": {"caption": "written"}}),
        ("PUT metadata", "PUT", "sub/v.wav", {"json": {"metadata": "written"}}),
        ("POST new", "POST", f"sub/new-{index}.png", {"content": b"new", "headers": image}),
        (
            "POST json",
            "POST",
            f"sub/deep-{index}/x.png",
            {"json": {"data": "bmV3", "caption": "c"}},
        ),
        ("DELETE", "DELETE", f"sub/victim-{index}.png", {"params": {"caption": "true"}}),
    ]


def client_loop(arena: Arena, number: int) -> None:
    with httpx.Client(timeout=30) as client:
        index = number * 200
        while not arena.stop.is_set() and index < (number + 1) * 200:
            for what, method, url, kwargs in requests(index):
                arena.seen(what, client.request(method, f"{arena.base}/{url}", **kwargs))
            thumb = client.get(f"{arena.base}/sub/a.png", params={"thumb": 32})
            arena.seen("GET thumb", thumb)
            if thumb.status_code == 200 and is_red(thumb.content):
                with arena.lock:
                    arena.leaks.append("GET thumb: a thumbnail of the outside image")
            index += 1


@pytest.mark.slow
def test_a_folder_flipping_to_a_symlink_never_leaks(
    arena: tuple[Arena, ServerProcess],
) -> None:
    state, server = arena
    outside_before = snapshot(state.outside)
    flipper_flips: list[int] = []
    flipper = threading.Thread(target=lambda: flipper_flips.append(flip(state)))
    clients = [threading.Thread(target=client_loop, args=(state, n)) for n in range(CLIENTS)]
    flipper.start()
    for thread in clients:
        thread.start()
    time.sleep(RUN_SECONDS)
    state.stop.set()
    for thread in clients:
        thread.join(timeout=60)
    flipper.join(timeout=10)
    restore(state, ".stray-end")
    # The race was really run: the folder flipped and requests got through both ways.
    assert flipper_flips and flipper_flips[0] > 20, flipper_flips
    assert sum(state.answers.values()) > 100, state.answers
    assert state.answers.get(200, 0) > 20, state.answers
    assert state.leaks == [], state.leaks[:10]
    assert snapshot(state.outside) == outside_before
