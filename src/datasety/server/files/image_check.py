"""Does an uploaded image decode? A small shrink-on-load decode through libvips says.

A corrupt upload that is stored silently shows as a broken-image icon and a failing thumbnail
on every view; checking at upload costs one small decode (a JPEG shrinks on load, so a 24 MP
photo costs milliseconds; a PNG streams its decode a few lines at a time, memory bounded).
Images over the thumbnail pixel budget are checked by their header only.

libvips (with numpy) is imported at the first check, not with the server.
"""

from __future__ import annotations

import re
from pathlib import Path

from datasety.core.errors import DatasetyError

# Beyond this many pixels only the header is read (a full decode would take seconds).
MAX_DECODE_PIXELS = 16384 * 16384


class UnreadableImageError(DatasetyError):
    """An image whose bytes do not decode: 422 (the request was well formed)."""

    status = 422


def problem(path: Path) -> str | None:
    """Why the image at ``path`` does not decode, or None when it does."""
    import pyvips

    from datasety.media import vips

    pyvips.cache_set_max(0)  # never serve a replaced file's old pixels
    try:
        probe = vips.probe(path)
        if probe.width * probe.height > MAX_DECODE_PIXELS:
            return None
        if probe.header is None:  # a format only Pillow reads (BMP...): decode it whole
            vips.decode(probe).avg()
        else:
            image = pyvips.Image.thumbnail(str(path), 64, fail_on="truncated")
            image.avg()  # forces the decode
    except (pyvips.Error, vips.ImageReadError, OSError, ValueError) as exc:
        return reason(exc)
    return None


def reason(exc: BaseException) -> str:
    """One line saying why a decode failed (libvips' own words where it has them)."""
    # pyvips.Error carries libvips' own words in ``detail`` (read without importing pyvips).
    detail = getattr(exc, "detail", None)
    detail = detail if isinstance(detail, str) else None
    for text in (detail, str(exc)):
        if text and text.strip():
            return text.strip().splitlines()[0]
    return type(exc).__name__


def message(rel: str, reason: str) -> str:
    # A reason may name the descriptor path the file was read through: name the file.
    return f"Not a readable image: {rel} ({re.sub(r'/proc/self/fd/[0-9]+', rel, reason)})"
