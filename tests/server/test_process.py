"""The real `datasety server` process: port fallback, persistence, start-up refusals, env."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

URL_LINE = re.compile(r"running at (http://127\.0\.0\.1:(\d+))/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A `python -m datasety server` child; ``url`` is the one it printed."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "datasety", "server", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.url, self.port = self._wait_for_url()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _wait_for_url(self) -> tuple[str, int]:
        while True:
            try:
                line = self.lines.get(timeout=30)
            except queue.Empty:
                self.stop()
                raise AssertionError(f"no URL printed; output: {self.output}") from None
            self.output.append(line)
            match = URL_LINE.search(line)
            if match:
                return match.group(1), int(match.group(2))

    def stop(self) -> int:
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._pump_thread.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.stop()


def test_busy_port_moves_to_the_next_free_one(servers: list[Server], tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        server = Server("--port", str(port), "--data-dir", str(tmp_path / "data"))
        servers.append(server)
        assert server.port > port
        assert f"Port {port} is in use; using {server.port} instead.\n" in server.output
        response = httpx.get(f"{server.url}/v1/datasets", timeout=10)
        assert (response.status_code, response.json()) == (200, {"datasets": []})
    assert server.stop() == 0


def test_datasets_persist_across_a_restart(servers: list[Server], tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"x")
    data = str(tmp_path / "data")
    first = Server("--port", str(free_port()), "--data-dir", data)
    servers.append(first)
    created = httpx.post(
        f"{first.url}/v1/datasets", json={"path": str(folder), "name": "kept"}, timeout=10
    ).json()
    assert first.stop() == 0

    second = Server("--port", str(free_port()), "--data-dir", data)
    servers.append(second)
    assert httpx.get(f"{second.url}/v1/datasets", timeout=10).json() == {"datasets": [created]}
    listed = httpx.get(f"{second.url}/v1/datasets/{created['id']}/files", timeout=10).json()
    assert [e["name"] for e in listed["files"]] == ["a.png"]


def test_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "datasety", "server", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path), "DATASETY_TOKEN": ""},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: refusing to listen on 0.0.0.0 without a token")
    assert not (tmp_path / "datasety").exists()


def test_settings_come_from_the_environment(servers: list[Server], tmp_path: Path) -> None:
    port = free_port()
    env = {
        "DATASETY_PORT": str(port),
        "DATASETY_TOKEN": "from-env",
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }
    server = Server(env=env)
    servers.append(server)
    assert server.port == port
    assert httpx.get(f"{server.url}/v1/datasets", timeout=10).status_code == 401
    authorised = httpx.get(
        f"{server.url}/v1/datasets", headers={"Authorization": "Bearer from-env"}, timeout=10
    )
    assert authorised.status_code == 200
    assert (tmp_path / "xdg" / "datasety" / "datasety.sqlite3").is_file()
    assert "access-control-allow-origin" not in authorised.headers


def raw_request(port: int, request: bytes, hang_up: bool = False) -> bytes:
    """Send ``request`` as is (no client normalising the path) and read the answer; with
    ``hang_up``, stop sending at once (as a client that dies mid-upload)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_raw_http_traversal_and_cut_off_upload(servers: list[Server], tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (tmp_path / "secret.txt").write_text("top secret")
    server = Server("--port", str(free_port()), "--data-dir", str(tmp_path / "data"))
    servers.append(server)
    dataset = httpx.post(f"{server.url}/v1/datasets", json={"path": str(folder)}, timeout=10)
    files = f"/v1/datasets/{dataset.json()['id']}/files"

    answer = raw_request(
        server.port,
        f"GET {files}/../secret.txt HTTP/1.1\r\n"
        "Host: localhost\r\nConnection: close\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert answer.endswith(b'{"error":"Access denied: Path traversal detected"}')

    # The client promises 1000 bytes, sends 10 and hangs up: nothing may be left behind.
    raw_request(
        server.port,
        f"POST {files}/cut.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n"
        "Content-Type: application/octet-stream\r\n\r\n0123456789".encode(),
        hang_up=True,
    )
    deadline = time.monotonic() + 10  # the server notices the hang-up on its own schedule
    while list(folder.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(p.name for p in folder.iterdir()) == []
    assert httpx.get(f"{server.url}{files}", timeout=10).json()["files"] == []
