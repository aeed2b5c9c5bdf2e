"""Serving a file: Content-Type, ETag / If-None-Match (304), Range (206, by Starlette)."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

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


def serve(request: Request, path: Path) -> Response:
    """The file at ``path`` (already confined), streamed from disk."""
    st = path.stat()
    etag = etag_of(st)
    headers = {"etag": etag, "cache-control": "no-cache"}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type(path), stat_result=st, headers=headers)
