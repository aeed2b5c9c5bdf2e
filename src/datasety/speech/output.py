"""Where clips go, and what a later ``--resume`` needs to know.

Two layouts, as the server reads and edits them:

* LJSpeech (``--metadata``): ``wavs/ID.wav`` and ``metadata.csv`` rows ``ID|text``; the id
  is the clip's file stem (``talk-0007``: its source and its number there), which is what the
  server matches a row to;
* pairs (default): ``ID.wav`` (or the video clip) with ``ID.txt`` beside it; the id is
  ``SOURCE-HHMMSS-HHMMSS``, the clip's place in its source, as the reference names them.

A source's clips are written in one commit, when the source is finished: files under hidden
temporary names first, then renamed into place, then ``metadata.csv`` rewritten atomically,
then the source recorded as finished in ``.datasety-speech.json``. A crash leaves either the
old state or the new one (at worst a clip file with no row, which the rerun rewrites: the ids
are the same each run).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from datasety.core import layout
from datasety.core.atomic import atomic_write_text
from datasety.core.errors import DatasetyError

STATE_FILE = ".datasety-speech.json"
WAVS = "wavs"


def safe_name(name: str) -> str:
    """``name`` usable in a file name and a ``metadata.csv`` id (no ``|``, no separators)."""
    cleaned = re.sub(r"[^\w.\-]+", "_", name).strip("._")
    return cleaned or "source"


def timecode(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 3600:02d}{total % 3600 // 60:02d}{total % 60:02d}"


@dataclass
class Layout:
    """Where a run writes: ``folder``, as LJSpeech or as pairs; clips are files with one of
    ``extensions`` (``.wav`` for audio; a video clip keeps its source's container)."""

    folder: Path
    ljspeech: bool
    extensions: frozenset[str] = frozenset({".wav"})

    @property
    def media_dir(self) -> Path:
        return self.folder / WAVS if self.ljspeech else self.folder

    def clip_id(self, source: str, number: int, start: float, end: float, taken: set[str]) -> str:
        base = (
            f"{source}-{number:04d}"
            if self.ljspeech
            else f"{source}-{timecode(start)}-{timecode(end)}"
        )
        clip_id, extra = base, 1
        while clip_id in taken:
            extra += 1
            clip_id = f"{base}-{extra}"
        taken.add(clip_id)
        return clip_id

    def existing_clips(self) -> list[Path]:
        """Clips a previous run left here."""
        folder = self.media_dir
        if not folder.is_dir():
            return []
        return sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in self.extensions and not p.name.startswith(".")
        )

    def clear(self) -> int:
        """``--overwrite``: remove what a previous run wrote (clips, their transcripts,
        ``metadata.csv``, the resume state); returns how many clips went."""
        clips = self.existing_clips()
        for clip in clips:
            clip.unlink(missing_ok=True)
            if not self.ljspeech:
                clip.with_suffix(".txt").unlink(missing_ok=True)
        if self.ljspeech:
            (self.folder / layout.METADATA_CSV).unlink(missing_ok=True)
        (self.folder / STATE_FILE).unlink(missing_ok=True)
        return len(clips)


@dataclass
class Written:
    """A clip ready to commit: its id, its file under a temporary name, its text."""

    clip_id: str
    temp: Path
    text: str
    seconds: float
    suffix: str = ".wav"


@dataclass
class Committer:
    """Commits finished sources one at a time (workers finish in any order)."""

    layout: Layout
    finished: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, where: Layout, resume: bool) -> Committer:
        finished: set[str] = set()
        state = where.folder / STATE_FILE
        if resume and state.is_file():
            try:
                finished = set(json.loads(state.read_text(encoding="utf-8"))["finished"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise DatasetyError(f"cannot read {state}: {exc}; rerun with --overwrite") from exc
        return cls(where, finished)

    def commit(self, source: str, clips: list[Written]) -> None:
        with self._lock:
            media = self.layout.media_dir
            for clip in clips:
                final = media / f"{clip.clip_id}{clip.suffix}"
                os.replace(clip.temp, final)
                if not self.layout.ljspeech:
                    atomic_write_text(final.with_suffix(".txt"), clip.text + "\n", fsync=False)
            if self.layout.ljspeech and clips:
                self._add_rows(clips)
            self.finished.add(source)
            atomic_write_text(
                self.layout.folder / STATE_FILE,
                json.dumps({"finished": sorted(self.finished)}, indent=1) + "\n",
                fsync=False,
            )

    def _add_rows(self, clips: list[Written]) -> None:
        csv = self.layout.folder / layout.METADATA_CSV
        try:
            content = csv.read_text(encoding="utf-8")
        except FileNotFoundError:
            content = ""
        for clip in clips:
            content = layout.set_metadata_row(content, clip.clip_id, clip.text)
        atomic_write_text(csv, content, fsync=False)
