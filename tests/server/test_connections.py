"""The server's connections (datasety.server.connections): TCP_NODELAY on every accepted socket,
and read timeouts for clients that send a request's head or body too slowly.

uvicorn runs in a thread with the server's protocol class, on a real loopback socket, in front
of a small ASGI app; the socket options are read from the connections uvicorn holds.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from datasety.commands.server import bind_socket
from datasety.server.connections import protocol_with
from tests.server.test_process import Server, free_port

LIMIT = 10.0  # seconds a test waits before calling a connection "never closed"


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body (after ``?wait=`` seconds, if given), answers its length."""
    if scope["type"] != "http":
        return
    query = scope["query_string"].decode()
    if query.startswith("wait="):
        await asyncio.sleep(float(query[5:]))
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def running(sock: socket.socket, read_timeout: float = 30.0) -> Iterator[uvicorn.Server]:
    config = uvicorn.Config(echo_length, http=protocol_with(read_timeout), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + LIMIT
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=LIMIT)
        sock.close()


def plain_socket() -> socket.socket:
    """A listening socket made the plain way (proto 0), on which asyncio leaves Nagle on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def fallback_socket() -> socket.socket:
    """A socket from ``bind_socket`` after its first port was busy (the port fall-back)."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        sock = bind_socket("127.0.0.1", busy)
    assert sock.getsockname()[1] != busy
    return sock


def exchange(conn: socket.socket, request: bytes) -> bytes:
    """Send ``request`` and read one response (head and a short body) off the connection."""
    conn.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


GET = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


@pytest.mark.parametrize("make_socket", [plain_socket, fallback_socket])
def test_accepted_sockets_have_nagle_off(make_socket: type[socket.socket]) -> None:
    sock = make_socket()
    port = sock.getsockname()[1]
    with running(sock) as server, socket.create_connection(("127.0.0.1", port)) as conn:
        for _ in range(3):  # kept alive: one connection, three requests
            assert exchange(conn, GET).endswith(b"\r\n\r\n0")
        (protocol,) = server.server_state.connections
        accepted = protocol.transport.get_extra_info("socket")  # type: ignore[attr-defined]
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def closed_within(conn: socket.socket, trickle: bytes = b"", every: float = 0.2) -> float:
    """Seconds until the server closes ``conn``, sending one byte of ``trickle`` per ``every``
    seconds meanwhile; fails if it stays open for LIMIT seconds."""
    started = time.monotonic()
    conn.settimeout(every)
    position = 0
    while time.monotonic() - started < LIMIT:
        try:
            if conn.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        if position < len(trickle):
            try:
                conn.sendall(trickle[position : position + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
            position += 1
    raise AssertionError(f"still open after {LIMIT} s")


def test_a_connection_that_sends_nothing_is_closed() -> None:
    with running(plain_socket(), read_timeout=1) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as conn:
            assert closed_within(conn) >= 0.9


def test_a_head_sent_byte_by_byte_is_cut_off() -> None:
    with running(plain_socket(), read_timeout=1) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        slow_head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * 200
        with socket.create_connection(("127.0.0.1", port)) as conn:
            # Every byte arrives well within the timeout; the head as a whole does not.
            assert closed_within(conn, slow_head, every=0.1) < LIMIT


def test_a_trickled_body_is_cut_off() -> None:
    with running(plain_socket(), read_timeout=1) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        head = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(head + b"x" * 100)
            # Ten bytes a second: never a pause of a second, far under the minimum rate.
            assert closed_within(conn, b"x" * 1000, every=0.1) < LIMIT


def test_a_body_that_stops_is_cut_off() -> None:
    with running(plain_socket(), read_timeout=1) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        head = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(head + b"x" * 10)
            assert closed_within(conn) >= 0.9


def test_the_servers_own_time_never_counts_against_the_client() -> None:
    """A slow application (answering, or reading a large body, after more than the timeout)
    and a client that waits less than the timeout between requests all go through."""
    with running(plain_socket(), read_timeout=1) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        body = b"x" * (8 * 1024 * 1024)
        upload = b"POST /?wait=2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port)) as conn:
            assert exchange(conn, b"GET /?wait=2 HTTP/1.1\r\nHost: x\r\n\r\n").endswith(b"0")
            time.sleep(0.5)
            assert exchange(conn, upload % len(body) + body).endswith(str(len(body)).encode())
            time.sleep(0.5)
            assert exchange(conn, GET).endswith(b"\r\n\r\n0")


@pytest.mark.slow
def test_the_read_timeout_flag_reaches_the_server(tmp_path: Path) -> None:
    """``datasety server --read-timeout 1``: a silent connection is closed, a real request on a
    kept-alive connection is answered (Nagle off: the flag's server is the same protocol)."""
    server = Server(
        "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), "--read-timeout", "1"
    )
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            request = f"GET /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n"
            assert exchange(conn, request.encode()).endswith(b'{"datasets":[]}')
            assert closed_within(conn) < LIMIT
        with socket.create_connection(("127.0.0.1", server.port)) as idle:
            assert closed_within(idle) >= 0.9
    finally:
        server.stop()
