"""One progress reporter for every batch command.

Three renderings of the same events:

* under a job (``DATASETY_PROGRESS=jsonl`` set by the job runner): one machine-readable line
  per event on stdout, ``@datasety:progress {"done": 3, "total": 60, "item": "a.jpg"}``, which
  the runner turns into the job's ``progress`` and keeps out of its ``output``;
* on a terminal with ``--progress``: a bar on stderr, redrawn in place;
* otherwise: one human-readable line per file.

Every batch ends with the same summary line: ``Done: N processed, N skipped, N failed``. A batch
in which some items failed then says so in one more line, ``Error: N of M files failed``, on
stderr, and exits with :data:`ITEMS_FAILED` (3): a script, a workflow or the job runner (which
takes that line as the job's ``error``) can tell it from a clean run and from a command that
could not run at all (1) or was called wrongly (2).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

PROGRESS_ENV = "DATASETY_PROGRESS"
PROGRESS_PREFIX = "@datasety:progress "
# Exit status of a batch that ran to its end but failed some of its items (see `datasety --help`).
ITEMS_FAILED = 3


def jsonl_requested() -> bool:
    """True when the job runner asked for machine-readable progress."""
    return os.environ.get(PROGRESS_ENV, "").lower() == "jsonl"


def format_progress_line(
    done: int, total: int | None, item: str | None, fields: dict[str, Any] | None = None
) -> str:
    """The machine-readable line a job emits (without the newline); ``fields`` are extra
    numbers a command reports beside the counts (train: ``loss``, ``eta_s``)."""
    payload = {**(fields or {}), "done": done, "total": total, "item": item}
    return PROGRESS_PREFIX + json.dumps(payload, ensure_ascii=False)


def parse_progress_line(line: str) -> dict[str, Any] | None:
    """The ``{done, total, item}`` of a progress line, or None for any other line."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        payload = json.loads(line[len(PROGRESS_PREFIX) :])
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("done"), int):
        return None
    return payload


@dataclass
class Progress:
    """Counts a batch and reports each file as it finishes.

    Use ``processed`` / ``skipped`` / ``failed`` once per item, then ``finish()``.
    """

    total: int | None
    bar: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    n_processed: int = 0
    n_skipped: int = 0
    n_failed: int = 0
    _jsonl: bool = field(default_factory=jsonl_requested)
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        # A bar only makes sense on a terminal and never under a job.
        self.bar = self.bar and not self._jsonl and self.err.isatty()
        self._emit_progress(None)

    @property
    def done(self) -> int:
        return self.n_processed + self.n_skipped + self.n_failed

    def processed(
        self, item: str, message: str | None = None, fields: dict[str, Any] | None = None
    ) -> None:
        """One item done; ``fields`` go into the job's progress beside done/total."""
        self.n_processed += 1
        self._line(item, message or item, fields)

    def report(self, fields: dict[str, Any]) -> None:
        """Fields for the job's progress without counting an item (train: the sample images
        just written)."""
        self._emit_progress(None, fields)

    def skipped(self, item: str, reason: str) -> None:
        self.n_skipped += 1
        self._line(item, f"skipped {item}: {reason}")

    def failed(self, item: str, reason: str) -> None:
        self.n_failed += 1
        # Failures always reach stderr, whatever the rendering, so they are never lost.
        self._clear_bar()
        print(f"Failed: {item}: {reason}", file=self.err, flush=True)
        self._emit_progress(item)
        self._draw_bar()

    def note(self, message: str) -> None:
        """A free-form human line (not counted)."""
        self._clear_bar()
        print(message, file=self.out, flush=True)
        self._draw_bar()

    def summary(self) -> str:
        return (
            f"Done: {self.n_processed} processed, {self.n_skipped} skipped, {self.n_failed} failed"
        )

    def finish(self) -> int:
        """Print the summary and return the exit code: 0, or :data:`ITEMS_FAILED` when any
        item failed (with an ``Error: N of M files failed`` line on stderr)."""
        self._clear_bar()
        print(self.summary(), file=self.out, flush=True)
        if not self.n_failed:
            return 0
        print(f"Error: {self.n_failed} of {self.done} files failed", file=self.err, flush=True)
        return ITEMS_FAILED

    # -- rendering -------------------------------------------------------------------------

    def _line(self, item: str, message: str, fields: dict[str, Any] | None = None) -> None:
        if self.bar:
            self._emit_progress(item, fields)
            self._draw_bar()
            return
        position = f"[{self.done}/{self.total}] " if self.total else ""
        print(position + message, file=self.out, flush=True)
        self._emit_progress(item, fields)

    def _emit_progress(self, item: str | None, fields: dict[str, Any] | None = None) -> None:
        if self._jsonl:
            line = format_progress_line(self.done, self.total, item, fields)
            print(line, file=self.out, flush=True)

    def _draw_bar(self) -> None:
        if not self.bar:
            return
        total = self.total or 0
        width = 30
        filled = int(width * self.done / total) if total else 0
        elapsed = time.monotonic() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = f" eta {int((total - self.done) / rate)}s" if rate and total else ""
        bar = "#" * filled + "-" * (width - filled)
        self.err.write(f"\r[{bar}] {self.done}/{total} {rate:.1f}/s{eta} ")
        self.err.flush()

    def _clear_bar(self) -> None:
        if self.bar:
            self.err.write("\r\033[K")
            self.err.flush()
