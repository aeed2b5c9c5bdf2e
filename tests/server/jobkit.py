"""Helpers for the job tests: images to resize, waiting, process-group checks, a real server."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from PIL import Image

from datasety.server.jobs import procs

T = TypeVar("T")


def make_images(folder: Path, count: int, size: tuple[int, int] = (32, 32)) -> Path:
    """``count`` small PNGs named img_000.png, ... in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.new("RGB", size, (index % 256, 40, 90)).save(folder / f"img_{index:03}.png")
    return folder


def slow_resize(src: Path, dst: Path, workers: int = 2) -> dict[str, Any]:
    """A resize job that takes a while per image (tiny inputs upscaled to 2048x2048 JPEGs)."""
    return {
        "command": "resize",
        "args": {
            "input": str(src),
            "output": str(dst),
            "resolution": "2048x2048",
            "upscale": True,
            "workers": workers,
        },
    }


def wait_for(check: Callable[[], T | None], timeout: float = 60.0, what: str = "it") -> T:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_job(
    client: Any, job_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    """GET the job until ``until(job)`` holds; returns that job."""

    def check() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        return job if until(job) else None

    return wait_for(check, timeout, f"job {job_id}")


def ended(job: dict[str, Any]) -> bool:
    return job.get("ended_at") is not None


def group_gone(pgid: int) -> bool:
    """True when no process of group ``pgid`` exists (zombies waiting for a reaper excepted)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return not procs.group_members(pgid)


def kill_leftover_jobs(data_dir: Path) -> None:
    """SIGKILL every job group a test left running (the runner leaves jobs running on close)."""
    db = data_dir / "datasety.sqlite3"
    if not db.exists():
        return
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT pgid FROM jobs WHERE pgid IS NOT NULL").fetchall()
    for (pgid,) in rows:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


class ServerProcess:
    """``python -m datasety server`` on a free port, as a user runs it."""

    def __init__(self, data_dir: Path, *flags: str) -> None:
        self.data_dir = data_dir
        self.flags = flags
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.port = 0
        # What the server printed after its URL line, read once it has stopped.
        self.later_output = ""
        self._clients: list[httpx.Client] = []

    def start(self) -> ServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "datasety", "server", "--port", "0"]
            + ["--data-dir", str(self.data_dir), *self.flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"running at (http://\S+?)/ ", line)
        assert found, line
        self.base_url = found.group(1)
        self.port = int(self.base_url.rsplit(":", 1)[1])
        wait_for(self._ready, 60, "the server to answer")
        return self

    def _ready(self) -> bool:
        try:
            # 401 is an answer too: a server started with --token is up.
            return httpx.get(self.base_url + "/v1/jobs", timeout=2).status_code in (200, 401)
        except httpx.TransportError:
            return False

    def client(self) -> httpx.Client:
        """A client for this server (closed when the server stops)."""
        client = httpx.Client(base_url=self.base_url, timeout=30)
        self._clients.append(client)
        return client

    def kill(self) -> None:
        """SIGKILL: the crash case, nothing gets to clean up."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self._close()

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout=20)
        self._close()
        return code

    def _close(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        self.later_output = _drain(self.process.stdout.fileno())
        self.process.stdout.close()
        for client in self._clients:
            client.close()


def _drain(fd: int, quiet_for: float = 2.0) -> str:
    """What is left to read on ``fd``: until end of file, or ``quiet_for`` seconds without a
    byte (a leftover process may still hold the pipe open)."""
    chunks: list[bytes] = []
    while select.select([fd], [], [], quiet_for)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")
