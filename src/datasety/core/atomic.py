"""Atomic file writes: a temporary file in the destination folder, then a rename.

A reader (or a crash) never sees a half-written file: the destination either keeps its old
bytes or has the complete new ones. Temporary files are hidden (leading dot) and end in the
destination's own suffix, so encoders that look at the suffix still pick the right format,
and every dataset scanner skips them because they start with a dot.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TEMP_MARKER = ".partial"


def temp_path_for(dest: Path, tag: str = "") -> Path:
    """A fresh hidden temporary path beside ``dest`` (same folder, same suffix); ``tag``
    goes before the marker, for a writer whose leftovers must be told apart."""
    token = secrets.token_hex(4)
    return dest.with_name(f".{dest.stem}.{token}{tag}{TEMP_MARKER}{dest.suffix}")


def is_temp_name(name: str) -> bool:
    """True for names made by :func:`temp_path_for` (so listings can skip them)."""
    return name.startswith(".") and TEMP_MARKER in name


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``dest`` in one rename.

    On any exception (including KeyboardInterrupt/SystemExit from a signal) the temporary
    file is removed and ``dest`` is untouched.
    """
    dest = Path(dest)
    tmp = temp_path_for(dest)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_path(dest, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: str | os.PathLike[str], text: str, *, fsync: bool = True) -> None:
    """Write ``text`` (UTF-8, no newline translation) to ``dest`` atomically."""
    atomic_write_bytes(dest, text.encode("utf-8"), fsync=fsync)
