"""Serving a file: Content-Type, ETag / If-None-Match (304), Range (206, by Starlette).

Dataset files come from anywhere (a scraped dataset may hold ``.html`` or ``.svg`` files) and
are served from the web UI's own origin: each is sandboxed (``Content-Security-Policy:
sandbox``: no script, an opaque origin) so opening one can never act as the UI, and
``nosniff`` keeps browsers from reading a ``.txt`` as HTML.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import weakref
from email.utils import formatdate
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    Response,
)
from starlette.types import Receive, Scope, Send

from datasety.server.errors import error_response
from datasety.server.files.fsroot import fd_path

# Types that mimetypes gets wrong or lacks on some systems.
MEDIA_TYPES = {
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}


def media_type(path: Path) -> str:
    # The last two suffixes decide (".tar.gz" is a tar archive to mimetypes).
    return _media_type_of("".join(path.suffixes[-2:]).lower())


@functools.lru_cache(maxsize=256)
def _media_type_of(suffixes: str) -> str:
    # Cached: mimetypes' lookup cost a tenth of a small download's CPU.
    known = MEDIA_TYPES.get(suffixes[suffixes.rfind(".") :]) if suffixes else None
    known = known or mimetypes.guess_type("x" + suffixes)[0]
    return known or "application/octet-stream"


def etag_of(st: os.stat_result) -> str:
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def accepts_gzip(request: Request) -> bool:
    """True if the client accepts a gzip-encoded body (``gzip`` or ``*``, q > 0)."""
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


def _matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


SANDBOX = {"content-security-policy": "sandbox", "x-content-type-options": "nosniff"}


def _range_error(request: Request, size: int) -> Response | None:
    """The spec's error shape for a Range header Starlette would refuse in plain text."""
    value = request.headers.get("range")
    if value is None or "if-range" in request.headers:
        return None  # with If-Range, Starlette may ignore the Range: let it decide
    try:
        # The same parser FileResponse runs next, so the two can never disagree.
        FileResponse._parse_range_header(value, size)
    except MalformedRangeHeader as exc:
        problem = exc.content.removeprefix("Range header: ").rstrip(".")
        return error_response(400, f"Invalid Range header: {problem}")
    except RangeNotSatisfiable:
        return error_response(416, "Range not satisfiable", {"content-range": f"bytes */{size}"})
    return None


# Files up to this size are read whole and sent from memory: FileResponse moves to a worker
# thread for the open, every 64 KiB read and the close, and for a photo or a thumbnail those
# thread hops cost more than the bytes.
SMALL_FILE = 256 * 1024


def _read_cached(fd: int, size: int) -> bytes | None:
    """The file's ``size`` bytes if the page cache holds them all, else None: a read that
    would wait for the disk is refused (``RWF_NOWAIT``), so the event loop never waits."""
    nowait = getattr(os, "RWF_NOWAIT", None)
    if nowait is None:
        return None
    buffer = bytearray(size + 1)
    try:
        count = os.preadv(fd, [buffer], 0, nowait)
    except OSError:  # EAGAIN: not cached; EOPNOTSUPP: a file system without RWF_NOWAIT
        return None
    return bytes(buffer[:count]) if count == size else None


class OpenFileResponse(FileResponse):
    """Starlette's FileResponse (Range, HEAD) over a file we already hold open: it reads
    through :func:`~datasety.server.files.fsroot.fd_path`, so the bytes sent are those of the very
    file that was checked, whatever its name points to by then. The descriptor is closed when
    the response is done (or, if it is never sent, when it is collected)."""

    def __init__(self, fd: int, **kwargs: Any) -> None:
        super().__init__(fd_path(fd), **kwargs)
        self._fd = [fd]
        weakref.finalize(self, _close_once, self._fd)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # No "pathsend": a server would open the path after we closed the descriptor.
        extensions = {
            k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"
        }
        try:
            await super().__call__({**scope, "extensions": extensions}, receive, send)
        finally:
            _close_once(self._fd)


def _close_once(holder: list[int]) -> None:
    if holder:
        os.close(holder.pop())


def serve(request: Request, fd: int, name: str, *, on_loop: bool = False) -> Response:
    """The open file ``fd`` (already confined; this takes it over and closes it), named
    ``name`` for its media type: from memory when small, else streamed from worker threads.
    ``on_loop``: called on the event loop, so never wait for the disk."""
    handed_over = False
    try:
        st = os.fstat(fd)
        etag = etag_of(st)
        headers = {"etag": etag, "cache-control": "no-cache", **SANDBOX}
        if _matches(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        refused = _range_error(request, st.st_size)
        if refused is not None:
            return refused
        kind = media_type(Path(name))
        if st.st_size <= SMALL_FILE and "range" not in request.headers:
            body = _read_cached(fd, st.st_size) if on_loop else os.pread(fd, SMALL_FILE + 1, 0)
            if body is not None and len(body) == st.st_size:  # else: changed, or not cached
                headers["accept-ranges"] = "bytes"
                headers["last-modified"] = formatdate(st.st_mtime, usegmt=True)
                return Response(body, media_type=kind, headers=headers)
        response = OpenFileResponse(fd, media_type=kind, stat_result=st, headers=headers)
        handed_over = True
        return response
    finally:
        if not handed_over:
            os.close(fd)


def serve_path(request: Request, path: Path) -> Response:
    """The server's own file at ``path`` (a cached thumbnail), as :func:`serve` does."""
    return serve(request, os.open(path, os.O_RDONLY | os.O_CLOEXEC), path.name)
