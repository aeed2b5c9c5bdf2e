"""Serving a file: Content-Type, ETag / If-None-Match (304), Range (206, by Starlette).

Dataset files come from anywhere (a scraped dataset may hold ``.html`` or ``.svg`` files) and
are served from the web UI's own origin: each is sandboxed (``Content-Security-Policy:
sandbox``: no script, an opaque origin) so opening one can never act as the UI, and
``nosniff`` keeps browsers from reading a ``.txt`` as HTML.
"""

from __future__ import annotations

import mimetypes
import os
from email.utils import formatdate
from pathlib import Path

from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    Response,
)

from datasety.server.errors import error_response

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
    suffix = path.suffix.lower()
    known = MEDIA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0]
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


def serve(request: Request, path: Path, *, on_loop: bool = False) -> Response:
    """The file at ``path`` (already confined): from memory when small, else streamed from
    worker threads. ``on_loop``: called on the event loop, so never wait for the disk."""
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        etag = etag_of(st)
        headers = {"etag": etag, "cache-control": "no-cache", **SANDBOX}
        if _matches(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        refused = _range_error(request, st.st_size)
        if refused is not None:
            return refused
        if st.st_size <= SMALL_FILE and "range" not in request.headers:
            if on_loop:
                body = _read_cached(handle.fileno(), st.st_size)
            else:
                body = handle.read(SMALL_FILE + 1)
            if body is not None and len(body) == st.st_size:  # else: changed, or not cached
                headers["accept-ranges"] = "bytes"
                headers["last-modified"] = formatdate(st.st_mtime, usegmt=True)
                return Response(body, media_type=media_type(path), headers=headers)
    return FileResponse(path, media_type=media_type(path), stat_result=st, headers=headers)
