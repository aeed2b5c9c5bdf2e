"""``multipart/form-data`` uploads (``curl -F file=@photo.jpg -F caption=...``), streamed.

A form carries one file part (any field name, with a ``filename``) and, optionally, the text
fields ``caption`` and ``metadata``, in any order. The file part's bytes go straight to the
upload's temporary file as they arrive (python-multipart parses the body chunk by chunk), so
an upload costs no more memory than a raw one, and the multipart envelope never reaches the
file. A form with no file part, two of them, an unknown field, or a malformed body is refused
with 400 before anything is written.

Other ``multipart/*`` types are refused with 415 naming the accepted ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from datasety.server.bodies import SMALL_JSON_LIMIT, body_chunks
from datasety.server.errors import ApiError
from datasety.server.files.readwrite import WritePlan, parse_write

FORM = "multipart/form-data"
ACCEPTED = "Content-Type must be application/octet-stream (or any non-multipart type) for the "
ACCEPTED += "raw file, application/json, or multipart/form-data"
TEXT_FIELDS = ("caption", "metadata")
NO_FILE = "A multipart upload needs one file part (e.g. curl -F file=@photo.jpg)"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_form(request: Request) -> bool:
    """True for ``multipart/form-data``; 415 for any other ``multipart/*`` type."""
    kind = media_type(request)
    if kind == FORM:
        return True
    if kind.startswith("multipart/"):
        raise ApiError(415, f"Unsupported media type {kind}: {ACCEPTED}")
    return False


class FormUpload:
    """One form being read: :meth:`file_chunks` yields the file part's bytes while the whole
    body is parsed; once it is exhausted, :attr:`plan` holds the validated text fields."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.plan = WritePlan()
        self._fields: dict[str, bytearray] = {}
        self._field_bytes = 0
        self._files = 0
        self._part: dict[str, Any] = {}
        self._header_name = b""
        self._header_value = b""
        self._pending: list[bytes] = []
        self._ended = False

    def _boundary(self) -> bytes:
        _, options = parse_options_header(self.request.headers.get("content-type", ""))
        boundary = options.get(b"boundary", b"")
        if not boundary:
            raise ApiError(400, "Invalid multipart body: no boundary in Content-Type")
        return boundary

    async def file_chunks(
        self, check: Callable[[WritePlan], Awaitable[None]]
    ) -> AsyncIterator[bytes]:
        """The file part's bytes; then the fields are checked (``check`` sees the plan),
        before the upload is installed."""
        parser = MultipartParser(
            self._boundary(),
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_part,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_end": self._end,
            },
        )
        async for chunk in body_chunks(self.request):
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise ApiError(400, f"Invalid multipart body: {exc}") from None
            for data in self._pending:
                yield data
            self._pending.clear()
        if not self._ended:
            raise ApiError(400, "Invalid multipart body: it ends before its closing boundary")
        if self._files == 0:
            raise ApiError(400, NO_FILE)
        self.plan = self._text_plan()
        await check(self.plan)

    def _text_plan(self) -> WritePlan:
        values: dict[str, Any] = {}
        for name, raw in self._fields.items():
            try:
                values[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, f"'{name}' is not valid UTF-8 text") from None
        return parse_write(values)

    # -- parser callbacks ----------------------------------------------------------------------

    def _part_begin(self) -> None:
        self._part = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._part["disposition"] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._part.get("disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            self._files += 1
            if self._files > 1:
                raise ApiError(400, "A multipart upload takes one file part, not several")
            self._part["file"] = True
        elif name in TEXT_FIELDS:
            if name in self._fields:
                raise ApiError(400, f"Form field '{name}' is given twice")
            self._fields[name] = bytearray()
            self._part["field"] = name
        else:
            raise ApiError(
                400, f"Unknown form field '{name}': send a file part, 'caption' and 'metadata'"
            )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.get("file"):
            self._pending.append(data[start:end])
            return
        self._field_bytes += end - start
        if self._field_bytes > SMALL_JSON_LIMIT:
            raise ApiError(413, "Form fields 'caption' and 'metadata' are limited to 1 MB")
        self._fields[self._part["field"]] += data[start:end]

    def _end(self) -> None:
        self._ended = True
