"""Finding images and the small image helpers every command shares."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from datasety.core.errors import DatasetyError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".avif", ".heic"}
)

# Output format name -> (file suffix, Pillow format name).
OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    "jpg": (".jpg", "JPEG"),
    "jpeg": (".jpg", "JPEG"),
    "png": (".png", "PNG"),
    "webp": (".webp", "WEBP"),
}


def output_format_of(path: str | Path) -> str | None:
    """The output format an ``--output-image`` suffix names (``x.jpeg`` -> ``"jpg"``), or
    ``None`` for a suffix no encoder here writes."""
    name = Path(path).suffix.lower().lstrip(".")
    if name not in OUTPUT_FORMATS:
        return None
    return "jpg" if name == "jpeg" else name


def written_format(output_image: str | Path | None, output_format: str) -> str:
    """The format an image is written in: an ``--output-image`` suffix's (the commands'
    checks refused one that names none), else ``--output-format``."""
    return (output_format_of(output_image) if output_image else None) or output_format


_RESOLUTION = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
# Far above any encoder's limit (JPEG 65500, WebP 16383), low enough that a typo such as an
# extra digit or two is an error here rather than a libvips failure per file.
MAX_SIDE = 1_000_000


def parse_resolution(text: str, flag: str = "--resolution") -> tuple[int, int]:
    """``"1024x768"`` -> ``(1024, 768)``; a clear error for anything else."""
    match = _RESOLUTION.match(text or "")
    if not match:
        raise DatasetyError(f"{flag} must look like WIDTHxHEIGHT (e.g. 1024x1024), got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1:
        raise DatasetyError(f"{flag} must be at least 1x1, got {text!r}")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise DatasetyError(f"{flag} sides must be at most {MAX_SIDE}, got {text!r}")
    return width, height


def parse_extensions(text: str, flag: str = "--input-format") -> frozenset[str]:
    """``"jpg,png"`` -> ``{".jpg", ".png"}`` (``jpg`` also matches ``.jpeg``)."""
    extensions: set[str] = set()
    for part in (text or "").split(","):
        name = part.strip().lower().lstrip(".")
        if not name:
            continue
        suffix = "." + name
        if suffix not in IMAGE_EXTENSIONS:
            known = ", ".join(sorted(e[1:] for e in IMAGE_EXTENSIONS))
            raise DatasetyError(f"{flag}: unknown image format {name!r} (known: {known})")
        extensions.add(suffix)
        if suffix in {".jpg", ".jpeg"}:
            extensions.update({".jpg", ".jpeg"})
    if not extensions:
        raise DatasetyError(f"{flag} names no format")
    return frozenset(extensions)


def require_dir(path: str | None, flag: str) -> Path:
    """The existing directory ``path``, or a one-line error naming ``flag``."""
    if not path:
        raise DatasetyError(f"{flag} is required")
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetyError(f"{flag} {path!r} does not exist or is not a directory")
    return folder


def find_images(
    root: Path, recursive: bool = False, extensions: Iterable[str] = IMAGE_EXTENSIONS
) -> list[Path]:
    """Image files under ``root``, sorted by relative path; hidden files and folders skipped.

    Hidden names include the temporary files of :mod:`datasety.core.atomic`, so a batch never
    picks up another run's half-written output.
    """
    wanted = {e.lower() for e in extensions}
    try:
        found = list(_walk(root, recursive, wanted))
    except OSError as exc:
        # An unreadable folder (permissions, a vanished mount) stops the batch before any
        # work, with one line naming it, rather than a traceback or a silently partial batch.
        raise DatasetyError(
            f"cannot read folder {str(exc.filename or root)!r}: {_reason(exc)}"
        ) from exc
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def require_output_dir(path: str | None, flag: str) -> Path:
    """The folder ``path`` that outputs will go to: a writable directory, or one to create.

    Checked before any work (and in a dry run, which should fail where the real run would):
    a file where the folder should be, or a folder that cannot be written, is a one-line error
    naming ``flag`` instead of a traceback or one failure per input file. Nothing is created.
    """
    if not path:
        raise DatasetyError(f"{flag} is required")
    folder = Path(path)
    existing = folder
    # os.path.exists, not Path.exists: it answers False (not PermissionError) below a folder
    # we may not search, and the loop then stops at that folder and reports it.
    while not os.path.exists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == folder else f": {str(existing)!r} is a file"
        raise DatasetyError(f"{flag} {path!r} is not a directory{where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == folder else f": cannot create it in {str(existing)!r}"
        raise DatasetyError(f"{flag} {path!r} is not writable{where}")
    return folder


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _walk(folder: Path, recursive: bool, wanted: set[str]) -> Iterator[Path]:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if recursive:
                    yield from _walk(Path(entry.path), recursive, wanted)
            elif os.path.splitext(entry.name)[1].lower() in wanted:
                yield Path(entry.path)
