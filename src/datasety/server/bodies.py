"""Reading request bodies safely: size limits, short bodies, JSON objects, typed fields."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect, Request

from datasety.server.errors import ApiError
from datasety.server.middleware import too_large

INVALID_JSON = "Invalid JSON payload"
# A JSON body that is not a file upload (a dataset, a rename, a job) is a few hundred bytes: a
# cap well below the upload limit keeps one request from costing the server gigabytes of
# parsed objects.
SMALL_JSON_LIMIT = 1024 * 1024


def max_body(request: Request) -> int:
    return int(request.app.state.settings.max_upload_bytes)


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value and value.strip().isdigit() else None


def is_json(request: Request) -> bool:
    """True for ``application/json`` (any parameters, e.g. charset) and ``*+json``."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def body_chunks(request: Request, limit: int | None = None) -> AsyncIterator[bytes]:
    """The body, chunk by chunk, refused once over ``limit`` (default: the upload limit) with
    413, or if it ends before its Content-Length (400). Never holds more than one chunk."""
    limit = min(limit, max_body(request)) if limit is not None else max_body(request)
    expected = declared_length(request)
    if expected is not None and expected > limit:
        raise ApiError(413, too_large(limit))
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise ApiError(413, too_large(limit))
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise ApiError(400, incomplete(expected, received)) from None
    if expected is not None and received != expected:
        raise ApiError(400, incomplete(expected, received))


def incomplete(expected: int | None, received: int) -> str:
    return f"Incomplete request body: expected {expected} bytes, got {received}"


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The whole body (for JSON): bounded by ``limit`` (default: the upload limit)."""
    return b"".join([chunk async for chunk in body_chunks(request, limit)])


async def read_json_object(
    request: Request, empty_ok: bool = True, limit: int | None = None
) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` for an empty body when ``empty_ok``."""
    raw = await read_body(request, limit)
    if not raw.strip() and empty_ok:
        return {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack ('[[[[...').
        raise ApiError(400, INVALID_JSON) from None
    if not isinstance(value, dict):
        # The spec's exact string: clients match on it.
        raise ApiError(400, INVALID_JSON)
    check_text(value)
    return value


def _is_text(value: str) -> bool:
    if value.isascii():  # O(1) in CPython: the common case costs nothing, even for base64
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(body: dict[str, Any]) -> None:
    """400 for a string or key anywhere in ``body`` that is not valid Unicode (JSON allows a
    lone surrogate such as ``"\\ud800"``): it could not be written to a file, passed to a
    process, stored and listed again, or even echoed in an error message."""
    for key, value in body.items():
        if not _is_text(key):
            raise ApiError(400, INVALID_JSON)
        pending = [value]
        while pending:  # a loop, not recursion: the parser allows deeper nesting than we do
            item = pending.pop()
            if isinstance(item, dict):
                pending.extend(item.keys())
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
            elif isinstance(item, str) and not _is_text(item):
                raise ApiError(400, f"'{key}' is not valid Unicode text")


def optional_str(body: dict[str, Any], key: str, kind: str = "a string") -> str | None:
    """``body[key]`` if it is a string (None when absent or null); 400 for any other type."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"'{key}' must be {kind}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, f"'{key}' is not valid Unicode text") from None
    return value
