"""Safe by default, at the door: Host check (DNS rebinding), cross-site Origin check, CORS,
bearer token, request sanity (bad bytes in the URL, bodies over the size limit).

The middlewares are plain ASGI (no per-request task or body copy) and answer with the same
``{"error": ...}`` shape as the routes.
"""

from __future__ import annotations

import hmac
from urllib.parse import unquote_to_bytes, urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from datasety.server.errors import error_response


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    await error_response(status, message, headers)(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def host_name(host_header: str) -> str:
    """``"[::1]:8080"`` -> ``"::1"``, ``"localhost:80"`` -> ``"localhost"``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


class HostCheckMiddleware:
    """Refuse requests whose Host is not a known name: a web page that rebinds its own DNS
    name to 127.0.0.1 still sends its own name, so it cannot talk to a loopback server."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = host_name(_header(scope, b"host") or "")
            if host not in self.allowed:
                message = f"Access denied: Host '{host}' is not allowed"
                await _refuse(scope, receive, send, 403, message)
                return
        await self.app(scope, receive, send)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_key(origin: str) -> tuple[str, int] | None:
    """``"http://LocalHost:8080"`` -> ``("localhost", 8080)``; None for ``null`` and junk."""
    parts = urlsplit(origin.strip())
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.hostname.lower(), port


def _host_key(host_header: str, default_port: int) -> tuple[str, int]:
    """``"[::1]:8080"`` -> ``("::1", 8080)``; ``"localhost"`` -> ``("localhost", default)``."""
    host = host_header.strip().lower()
    tail = host.rsplit("]", 1)[-1]  # what follows an IPv6 literal's bracket, if any
    _, colon, port = tail.rpartition(":")
    return host_name(host), int(port) if colon and port.isdigit() else default_port


def same_origin(origin: str, host_header: str) -> bool:
    """True if ``origin`` names the host the request was sent to (the server's own page)."""
    key = _origin_key(origin)
    scheme = urlsplit(origin.strip()).scheme
    return key is not None and key == _host_key(host_header, _DEFAULT_PORTS.get(scheme, 80))


class OriginCheckMiddleware:
    """Refuse a request that changes something when a browser says another site sent it.

    A page on any site can make the browser POST to ``http://127.0.0.1:8080/v1/jobs`` with a
    ``text/plain`` body and no preflight (a "simple" request): it cannot read the answer, but
    the job would run. Browsers send ``Origin`` on such requests; non-browser clients do not
    send it at all. So a state-changing request whose ``Origin`` is neither this server nor a
    ``--cors-origin`` is refused (``null``, from sandboxed pages and files, included).
    """

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = frozenset(_origin_key(o) for o in allowed) - {None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") not in SAFE_METHODS:
            origin = _header(scope, b"origin")
            if origin is not None and not self._allowed(origin, _header(scope, b"host") or ""):
                message = f"Access denied: cross-site request from origin '{origin}'"
                await _refuse(scope, receive, send, 403, message)
                return
        await self.app(scope, receive, send)

    def _allowed(self, origin: str, host: str) -> bool:
        return same_origin(origin, host) or _origin_key(origin) in self.allowed


class TokenMiddleware:
    """Every ``/v1`` request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        needs_token = scope["type"] == "http" and (path == "/v1" or path.startswith("/v1/"))
        # CORS preflights carry no credentials by design; CORSMiddleware answers them.
        if needs_token and scope.get("method") != "OPTIONS":
            scheme, _, given = (_header(scope, b"authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not given.strip():
                await _refuse(scope, receive, send, 401, "Missing bearer token")
                return
            # The header was decoded as latin-1: encoding it back gives the bytes as sent, so
            # a non-ASCII token (sent as UTF-8) compares equal.
            if not hmac.compare_digest(given.strip().encode("latin-1"), self.token):
                await _refuse(scope, receive, send, 401, "Invalid token")
                return
        await self.app(scope, receive, send)


class CORSErrorShapeMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as ``{"error": ...}`` too."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        kept = {
            key: value
            for key, value in response.headers.items()
            if key not in ("content-length", "content-type")
        }
        return error_response(response.status_code, bytes(response.body).decode(), kept)


class RequestSanityMiddleware:
    """Refuse what no route can handle: NUL bytes or undecodable UTF-8 in the URL (400), and
    a declared body over the size limit (413) before a byte of it is read."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self._problem(scope)
            if problem:
                await _refuse(scope, receive, send, *problem)
                return
        await self.app(scope, receive, send)

    def _problem(self, scope: Scope) -> tuple[int, str] | None:
        raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        for part in (raw_path, scope.get("query_string", b"")):
            if b"%" not in part and b"\x00" not in part:
                continue
            decoded = unquote_to_bytes(part.replace(b"+", b" "))
            if b"\x00" in decoded:
                return 400, "Invalid request: the URL contains a NUL byte"
            try:
                decoded.decode("utf-8")
            except UnicodeDecodeError:
                return 400, "Invalid request: the URL is not valid UTF-8"
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return 400, "Invalid Content-Length header"
            if int(length) > self.max_body:
                return 413, too_large(self.max_body)
        return None


def too_large(max_body: int) -> str:
    """The message of a 413."""
    return f"Request body too large (limit {max_body // (1024 * 1024)} MB)"
