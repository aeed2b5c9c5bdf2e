"""The server's HTTP/1.1 connections: no Nagle delay, and no room for slow clients.

uvicorn's httptools protocol (a C parser: about 30 us less CPU per request than h11's pure
Python) with these additions, made once per accepted connection:

* **TCP_NODELAY** on the accepted socket. asyncio sets it only when the listening socket was
  created with ``proto=IPPROTO_TCP``; one made with ``proto=0`` (as ``socket.socket()`` does)
  left Nagle's algorithm on, and on a kept-alive connection every response's last segment
  then waited for the client's delayed ACK: about 40 ms per request. Setting it here holds
  however the listening socket was made.
* **One send per response.** uvicorn writes a response's head and body separately; the
  writes of one event-loop turn are joined (:class:`CoalescingTransport`).
* **Read timeouts.** uvicorn waits forever for a request's head (its keep-alive timer runs only
  between requests and stops at the first byte), so a client that trickles a header byte now
  and then holds a socket for good. Here a request's head must arrive whole within
  ``read_timeout`` seconds of the connection opening or its previous response ending, and a
  body must keep coming: never ``read_timeout`` seconds without data, and on average at least
  :data:`MIN_BODY_RATE` bytes a second after its first ``read_timeout`` seconds. A connection
  that falls behind is closed. Time the server itself spends not reading (the application
  has not asked for more body yet) never counts against the client.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A body slower than this on average (after the first read_timeout seconds) is a slow client:
# 1 KiB/s is below any real link, and a few hundred such uploads cannot hold the server.
MIN_BODY_RATE = 1024
DEFAULT_READ_TIMEOUT = 30.0


def set_nodelay(sock: Any) -> None:
    """Turn Nagle's algorithm off on a TCP socket (asyncio's TransportSocket or a socket)."""
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class CoalescingTransport:
    """A transport whose writes made in one turn of the event loop leave in one send.

    uvicorn writes a response's head and its body separately; with Nagle off each write is
    its own send, segment and wake-up of the client, and on a virtual machine a wake-up costs
    more than copying 60 KB. Everything but ``write`` is the real transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()


HEAD, BODY, SERVER = "head", "body", "server"  # what a connection waits for


class ServerProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with TCP_NODELAY and head/body read timeouts."""

    read_timeout: float = DEFAULT_READ_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport.get_extra_info("socket"))
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = HEAD
        self._since = self._body_last = self.loop.time()
        self._body_bytes = 0
        self._watch()

    def data_received(self, data: bytes) -> None:
        if self._waiting == BODY:
            self._body_bytes += len(data)
            self._body_last = self.loop.time()
        super().data_received(data)
        self._watch()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._waiting = BODY  # ends at once (in the same feed) for a request without a body
        self._since = self._body_last = self.loop.time()
        self._body_bytes = 0

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:
            # Answered before its body ended (a 413, say): next comes another request.
            self._waiting = HEAD
            self._since = self.loop.time()
        else:
            self._waiting = SERVER  # the application and the response are the server's time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is None or self.cycle.response_complete:  # no pipelined request next
            self._waiting = HEAD
            self._since = self.loop.time()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _watch(self) -> None:
        """(Re)arm the timer for what the connection waits for from the client now."""
        self._cancel()
        if self.transport.is_closing() or self._waiting == SERVER:
            return
        if self._waiting == HEAD:
            # Waiting for (the rest of) a request head: one deadline for all of it.
            deadline = self._since + self.read_timeout
        else:
            paced = self._since + self.read_timeout + self._body_bytes / MIN_BODY_RATE
            deadline = min(self._body_last + self.read_timeout, paced)
        self._timer = self.loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self._waiting == BODY and self.flow.read_paused:
            # The application is not reading yet (the buffer is full): not the client's fault.
            self._since = self._body_last = self.loop.time()
            self._body_bytes = 0
            self._watch()
            return
        self.transport.close()


def protocol_with(read_timeout: float) -> type[ServerProtocol]:
    """The protocol class for uvicorn's ``http=``, with this server's read timeout."""
    return type("ServerProtocol", (ServerProtocol,), {"read_timeout": read_timeout})
