"""A job's log file and its three views: ``output``, the plain text log, and the SSE stream.

The file ``<data dir>/jobs/<id>.log`` is exactly what the job's processes wrote (stdout and
stderr together), including the machine-readable ``@datasety:progress`` lines the command
emits under a job. Those lines feed the job's ``progress`` and are left out of every view a
person reads: ``output`` (the last 1,000 lines), ``GET .../logs`` (text/plain) and
``GET .../logs?follow=true`` (Server-Sent Events). SSE event ids are byte offsets into the file
(just after the event's line), so a client resumes exactly where it stopped.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from datasety.core.progress import PROGRESS_PREFIX, parse_progress_line

OUTPUT_LINES = 1000
# GET /v1/jobs shows each job's last few lines, each at most this long (a progress bar redrawn
# with carriage returns is one "line" of megabytes): the list stays small however many jobs and
# however chatty they are; a job's own view and its log have the rest.
LIST_OUTPUT_LINES = 10
LIST_LINE_CHARS = 1000
_PREFIX = PROGRESS_PREFIX.encode("utf-8")
_BLOCK = 64 * 1024
# A tail never reads more than this from the end of a log, however long its lines are.
_MAX_TAIL_BYTES = 8 * 1024 * 1024
_READ_BYTES = 1024 * 1024


def log_path(jobs_dir: Path, job_id: str) -> Path:
    return jobs_dir / f"{job_id}.log"


def exit_path(jobs_dir: Path, job_id: str) -> Path:
    return jobs_dir / f"{job_id}.exit"


def is_progress(line: bytes) -> bool:
    return line.startswith(_PREFIX)


def decode(line: bytes) -> str:
    """One log line as text: invalid UTF-8 replaced, line ending removed."""
    return line.rstrip(b"\r\n").decode("utf-8", "replace")


def tail_output(path: Path, limit: int = OUTPUT_LINES, line_chars: int | None = None) -> list[str]:
    """The last ``limit`` human-readable lines of the log (progress lines left out); with
    ``line_chars``, a longer line keeps only its end (where a redrawn line ends up), after
    an ellipsis."""
    try:
        with open(path, "rb") as handle:
            lines = _tail(handle, limit)
    except FileNotFoundError:
        return []
    if line_chars is None:
        return lines
    return [line if len(line) <= line_chars else "…" + line[1 - line_chars :] for line in lines]


def _tail(handle: BinaryIO, limit: int) -> list[str]:
    end = handle.seek(0, os.SEEK_END)
    start = end
    data = b""
    while start > 0 and end - start < _MAX_TAIL_BYTES:
        step = min(_BLOCK, start)
        start -= step
        handle.seek(start)
        data = handle.read(step) + data
        # The first piece may be the end of a line that starts before `start`.
        complete = data.split(b"\n")[1:]
        if sum(1 for line in complete if line and not is_progress(line)) > limit:
            break
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]
    if lines and lines[-1] == b"":
        lines.pop()
    human = [decode(line) for line in lines if not is_progress(line)]
    return human[-limit:]


def iter_text(path: Path) -> Iterator[bytes]:
    """The whole log, progress lines left out, in chunks (for a text/plain response)."""
    try:
        with open(path, "rb") as handle:
            yield from _human_chunks(handle)
    except FileNotFoundError:
        return


def _human_chunks(handle: BinaryIO) -> Iterator[bytes]:
    chunk: list[bytes] = []
    size = 0
    for line in handle:
        if is_progress(line):
            continue
        chunk.append(line)
        size += len(line)
        if size >= _BLOCK:
            yield b"".join(chunk)
            chunk, size = [], 0
    if chunk:
        yield b"".join(chunk)


@dataclass
class LogTail:
    """Reads a growing log from ``offset`` on, one complete line at a time."""

    path: Path
    offset: int = 0
    _partial: bytes = field(default=b"", repr=False)

    def read_lines(self, max_bytes: int = _READ_BYTES) -> list[tuple[int, bytes]]:
        """New complete lines since the last call (reading at most ``max_bytes``), each with
        the offset just after it."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset + len(self._partial))
                data = handle.read(max_bytes)
        except FileNotFoundError:
            return []
        if not data:
            return []
        data = self._partial + data
        lines: list[tuple[int, bytes]] = []
        position = self.offset
        start = 0
        while (newline := data.find(b"\n", start)) != -1:
            position += newline + 1 - start
            lines.append((position, data[start : newline + 1]))
            start = newline + 1
        self._partial = data[start:]
        self.offset = position
        if len(self._partial) >= _READ_BYTES:
            # A "line" this long is not one a person reads whole: pass it on in pieces.
            self.offset += len(self._partial)
            lines.append((self.offset, self._partial))
            self._partial = b""
        return lines

    def read_all(self) -> list[tuple[int, bytes]]:
        """Every complete line not read yet (the log may be large: all of it)."""
        lines: list[tuple[int, bytes]] = []
        while batch := self.read_lines():
            lines.extend(batch)
        return lines

    def read_rest(self) -> list[tuple[int, bytes]]:
        """Every line not read yet, the last one even without its newline: the log has ended."""
        lines = self.read_all()
        if self._partial:
            self.offset += len(self._partial)
            lines.append((self.offset, self._partial))
            self._partial = b""
        return lines


def last_progress(lines: list[tuple[int, bytes]]) -> dict[str, Any] | None:
    """``{done, total}`` of the last progress line among ``lines``, or None if there is none,
    plus the fields a command added to it: numbers (train: ``loss``, ``eta_s``, ``lr``) and
    lists of strings (train: ``samples``, the latest sample images' paths)."""
    for _, line in reversed(lines):
        if is_progress(line):
            payload = parse_progress_line(decode(line))
            if payload is not None:
                extra = {
                    key: value
                    for key, value in payload.items()
                    if key not in PROGRESS_KEYS and (_is_number(value) or _is_strings(value))
                }
                return {**extra, "done": payload["done"], "total": payload.get("total")}
    return None


PROGRESS_KEYS = frozenset({"done", "total", "item"})


def _is_number(value: Any) -> bool:
    """A finite number (a NaN loss stays out: JSON has no NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def sse_event(data: str, event_id: int | None = None, event: str | None = None) -> bytes:
    """One Server-Sent Event. A CR inside the text would end the field, so it splits lines."""
    fields = []
    if event is not None:
        fields.append(f"event: {event}")
    if event_id is not None:
        fields.append(f"id: {event_id}")
    fields.extend(
        f"data: {part}" for part in data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    )
    return ("\n".join(fields) + "\n\n").encode("utf-8")


async def follow(
    path: Path,
    offset: int,
    final_status: Callable[[], str | None],
    closing: Callable[[], bool],
    poll: float = 0.1,
    keepalive: float = 15.0,
) -> AsyncIterator[bytes]:
    """SSE events for every human-readable line from ``offset`` on, then ``event: end``.

    ``final_status()`` is None while the job can still write to its log and its final status
    once it cannot; the stream then sends the rest of the log and ends with that status.
    ``closing()`` becomes true when the server shuts down: the stream stops without an end
    event, and the client's reconnect (with ``Last-Event-ID``) resumes on the next server.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    tail = LogTail(path, min(max(offset, 0), size))
    quiet_since = time.monotonic()
    while True:
        # Read the status before the log: a job that ended has written all of its lines.
        status = final_status()
        lines = tail.read_rest() if status is not None else tail.read_lines()
        events = [sse_event(decode(line), end) for end, line in lines if not is_progress(line)]
        if events:
            yield b"".join(events)
            quiet_since = time.monotonic()
        if status is not None:
            yield sse_event(status, event="end")
            return
        if closing():
            return
        if lines:
            continue  # catching up on a long log: read on before sleeping
        if time.monotonic() - quiet_since >= keepalive:
            yield b": keepalive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(poll)
