"""Start a real ``datasety server`` process and Debian's headless Chromium.

Shared by the UI tests (tests/ui/), ``bench/bench_ui.py`` and ``scripts/screenshots.py``:
``with start_server(data_dir) as server:`` and ``launch_chromium(playwright)``. Chromium is
the system package (``/usr/bin/chromium``, installed by ``.ci/run``), driven by Playwright:
Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image
from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = os.environ.get("DATASETY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
# register(folder) -> the dataset's JSON (a fixture in conftest.py).
RegisterFn = Callable[[Path], dict[str, Any]]
URL_LINE = re.compile(r"running at (http://\S+?)/? ")


@dataclass
class Server:
    """A running ``datasety server``: its base URL (no trailing slash) and process."""

    url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def start_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    """``python -m datasety server --port 0`` on ``data_dir``; waits until it listens."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed by Server.stop)
    command = [
        sys.executable,
        "-m",
        "datasety",
        "server",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
    ]
    process = subprocess.Popen(
        [*command, *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = URL_LINE.search(log_path.read_text(errors="replace"))
        if found:
            return Server(found.group(1), process, log, log_path)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    log.close()
    raise RuntimeError(f"datasety server did not start:\n{log_path.read_text(errors='replace')}")


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's headless Chromium (not Playwright's download) with the flags every UI run uses."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_view(page: Page, server: Server, fragment: str) -> None:
    """Load the UI at ``#<fragment>`` and wait until the view has rendered."""
    page.goto(f"{server.url}/#{fragment}")
    page.wait_for_selector("#view[data-ready]")


def make_image(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> Path:
    """A solid-colour image at ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path
