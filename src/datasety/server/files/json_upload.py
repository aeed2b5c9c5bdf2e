"""A JSON file write ``{"data": "<base64>", "caption": ..., "metadata": ...}``, read as it
streams in: the base64 ``data`` string is decoded chunk by chunk into the upload's temporary
file, so a 1 GB upload never sits in memory (as bytes, then text, then a parsed string, then
decoded: four times over, before). Everything else in the object is small (1 MB at most), kept
and parsed with ``json.loads`` at the end, where ``data``'s place holds an empty string.

Only a ``"data"`` key of the top-level object whose value is a string is streamed; any other
shape goes to ``json.loads`` whole and gets the usual 400s. A write with no (or empty) data
is a sidecar-only write, exactly as before.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request

from datasety.server.bodies import INVALID_JSON, SMALL_JSON_LIMIT, body_chunks, check_text
from datasety.server.errors import ApiError
from datasety.server.files.readwrite import WritePlan, parse_write
from datasety.server.middleware import too_large

INVALID_BASE64 = "Invalid base64 data"
_SPECIAL = re.compile(rb'["\\]')
_WHITESPACE = b" \t\r\n\f\v"
_BASE64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


class JsonWrite:
    """Call :meth:`start`; if :attr:`has_data`, pass :meth:`data_chunks` to the upload, which
    ends by checking everything; then :attr:`plan` holds the caption and metadata."""

    def __init__(self, request: Request) -> None:
        self._body = body_chunks(request).__aiter__()
        self._rest = bytearray()  # the body without the content of the data string
        self.has_data = False
        self.plan = WritePlan()
        # Where the scan of the object's structure is.
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._expect_key = False
        self._key_start = -1
        self._key: Any = None
        self._data_value_next = False
        self._data_streamed = False
        self._pending = b""  # read, not yet scanned
        # The base64 decoder's state.
        self._b64 = bytearray()
        self._carry = b""
        self._padded = False

    async def _next(self) -> bytes | None:
        try:
            return await self._body.__anext__()
        except StopAsyncIteration:
            return None

    async def start(self) -> None:
        """Read until the content of a non-empty data string begins, or the body ends."""
        while (chunk := await self._next()) is not None:
            at = self._scan(chunk)
            if at < 0:
                continue
            pending = chunk[at:]
            while not pending:  # the opening quote ended the chunk: is the string empty?
                more = await self._next()
                if more is None:
                    raise ApiError(400, INVALID_JSON)
                pending = more
            if pending[:1] == b'"':  # "data": "" is no data: an ordinary string after all
                self._in_string = True
                self._scan(pending)
                continue
            self.has_data = True
            self._pending = pending
            return
        self._finish()

    async def data_chunks(
        self, check: Callable[[WritePlan], Awaitable[None]]
    ) -> AsyncIterator[bytes]:
        """The decoded data, chunk by chunk; then the rest of the body is read and checked
        (``check`` sees the plan), all before the upload is installed."""
        chunk: bytes | None = self._pending
        while chunk is not None:
            decoded, end = self._decode(chunk)
            if decoded:
                yield decoded
            if end is not None:
                self._rest += b'"'
                self._data_streamed = True
                self._scan(chunk[end:])
                break
            chunk = await self._next()
        else:
            raise ApiError(400, INVALID_JSON)  # the body ended inside the string
        while (chunk := await self._next()) is not None:
            if self._scan(chunk) >= 0:
                raise ApiError(400, INVALID_JSON)  # a second "data"
        self._finish()
        await check(self.plan)

    # -- the structure of the object -----------------------------------------------------------

    def _scan(self, chunk: bytes) -> int:
        """Append ``chunk`` to the kept body, following the structure; the index just after
        the opening quote of the data string's value if it is in ``chunk``, else -1."""
        base = len(self._rest)
        self._rest += chunk
        rest = self._rest
        for i in range(base, len(rest)):
            char = rest[i]
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif char == 0x5C:  # backslash
                    self._escape = True
                elif char == 0x22:  # closing quote
                    self._in_string = False
                    if self._key_start >= 0:
                        self._key = _loads(bytes(rest[self._key_start : i + 1]))
                        self._key_start = -1
                continue
            if char == 0x22:  # opening quote
                if self._data_value_next:
                    self._data_value_next = False
                    if self._data_streamed:
                        raise ApiError(400, INVALID_JSON)
                    del rest[i + 1 :]  # what follows is the data: not kept
                    return i + 1 - base
                self._in_string = True
                if self._depth == 1 and self._expect_key:
                    self._key_start = i
                    self._expect_key = False
            elif char in b"{[":
                self._depth += 1
                self._expect_key = self._depth == 1 and char == 0x7B
            elif char in b"}]":
                self._depth -= 1
            elif char == 0x2C and self._depth == 1:  # comma
                self._expect_key = True
            elif char == 0x3A and self._depth == 1:  # colon
                self._data_value_next = self._key == "data"
            elif char not in _WHITESPACE:
                self._data_value_next = False
        # Checked once scanned: a chunk may hold the data string, which is not kept.
        if len(rest) > SMALL_JSON_LIMIT:
            raise ApiError(413, too_large(SMALL_JSON_LIMIT))
        return -1

    def _finish(self) -> None:
        value = _loads(bytes(self._rest))
        if not isinstance(value, dict):
            raise ApiError(400, INVALID_JSON)
        check_text(value)
        if self._data_streamed:
            del value["data"]
        self.plan = parse_write(value)

    # -- the base64 data -----------------------------------------------------------------------

    def _decode(self, chunk: bytes) -> tuple[bytes, int | None]:
        """The bytes decoded from ``chunk`` (as far as whole base64 quads allow), and the index
        just after the string's closing quote if it is in ``chunk``."""
        data = self._carry + chunk
        offset = len(self._carry)
        self._carry = b""
        pos = 0
        while True:
            found = _SPECIAL.search(data, pos)
            stop = found.start() if found else len(data)
            self._b64 += data[pos:stop]
            if found is None:
                return self._flush(final=False), None
            if data[stop] == 0x22:  # the closing quote
                return self._flush(final=True), stop + 1 - offset
            pos = self._escape_at(data, stop)
            if pos < 0:  # an escape cut by the chunk's end: finish it with the next chunk
                self._carry = data[stop:]
                return self._flush(final=False), None

    def _escape_at(self, data: bytes, at: int) -> int:
        """Take the escape sequence at ``at``; the index after it, or -1 if it is cut off."""
        kind = data[at + 1 : at + 2]
        if not kind:
            return -1
        if kind == b"/":
            self._b64 += b"/"
            return at + 2
        if kind in (b"n", b"r", b"t", b"f"):
            return at + 2  # a line break inside base64 text, as MIME wraps it
        if kind == b"u":
            digits = data[at + 2 : at + 6]
            if len(digits) < 4:
                return -1
            try:
                code = int(digits, 16)
            except ValueError:
                raise ApiError(400, INVALID_JSON) from None
            if code < 128 and (code in _BASE64_CHARS or bytes([code]) in _WHITESPACE):
                self._b64.append(code)
                return at + 6
        raise ApiError(400, INVALID_BASE64)

    def _flush(self, final: bool) -> bytes:
        text = bytes(self._b64).translate(None, _WHITESPACE)
        whole = len(text) if final else len(text) - len(text) % 4
        self._b64 = bytearray(text[whole:])
        if not whole:
            return b""
        quads = text[:whole]
        if self._padded or b"=" in quads[:-4]:
            raise ApiError(400, INVALID_BASE64)  # padding only at the very end
        self._padded = quads.endswith(b"=")
        try:
            return base64.b64decode(quads, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, INVALID_BASE64) from None


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, INVALID_JSON) from None
