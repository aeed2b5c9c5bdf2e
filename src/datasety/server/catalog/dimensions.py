"""Image width and height from file headers, cached per file version.

A listing sorted by width or showing ``width x height`` on 5,000 cards cannot decode 5,000
images: Pillow reads only the header (tens of microseconds a file; libvips takes several
times that), and the answer is kept per (path, inode, mtime, size), so a warm listing reads
nothing. JPEG EXIF orientation 5-8 swaps the two, as a viewer shows the image. A file Pillow
cannot open is asked of libvips (HEIF, AVIF); one nobody can read is ``None``.

Pillow and libvips (with numpy) are imported at the first size asked for, not with the server:
they cost ~30 MB of memory that a server only listing files never needs.
"""

from __future__ import annotations

import threading
from pathlib import Path

Size = tuple[int, int]
# Keys kept at most (about 150 bytes each): a million-image dataset costs ~150 MB when sorted
# by width, so the oldest half is dropped past this.
MAX_KEPT = 400_000
_ROTATED = (5, 6, 7, 8)
_ORIENTATION_TAG = 0x0112


def read_size(path: Path) -> Size | None:
    """The upright (width, height) of the image at ``path`` from its header, or None."""
    import pyvips
    from PIL import Image, UnidentifiedImageError

    from datasety.media import vips

    try:
        with Image.open(path) as image:
            width, height = image.size
            # Only JPEG carries EXIF in the header Pillow has already read (PNG's would cost
            # a read of the whole file).
            jpeg_exif = image.format == "JPEG" and "exif" in image.info
            if jpeg_exif and image.getexif().get(_ORIENTATION_TAG) in _ROTATED:
                width, height = height, width
            return width, height
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        pass
    try:
        source = vips.probe(path)
    except (pyvips.Error, vips.ImageReadError, OSError, ValueError):
        return None
    return source.width, source.height


class SizeCache:
    """Sizes by file version; thread-safe, bounded by :data:`MAX_KEPT`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sizes: dict[tuple[str, int, int, int], Size | None] = {}

    def get(self, key: tuple[str, int, int, int]) -> tuple[bool, Size | None]:
        """(known, size) for ``key`` = (path, inode, mtime_ns, size)."""
        with self._lock:
            if key in self._sizes:
                return True, self._sizes[key]
        return False, None

    def put(self, key: tuple[str, int, int, int], size: Size | None) -> None:
        with self._lock:
            if len(self._sizes) >= MAX_KEPT:
                # Dicts keep insertion order: drop the oldest half in one go.
                for old in list(self._sizes)[: MAX_KEPT // 2]:
                    del self._sizes[old]
            self._sizes[key] = size
