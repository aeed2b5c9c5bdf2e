"""Cached thumbnails: JPEG (WebP when the image has transparency), made once per source
version and kept in the data dir; a changed source (mtime or size) gets a new one.

Only the sizes in :data:`CACHED_SIZES` are made and kept: a request for another size gets the
smallest cached size that is at least as large, so a client walking every size from 16 to 2048
costs seven files per image, not two thousand."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from PIL import Image, ImageOps

from datasety import atomic, layout
from datasety.errors import DatasetyError

THUMB_MIN = 16
THUMB_MAX = 2048
CACHED_SIZES = (32, 64, 128, 256, 512, 1024, 2048)


def cached_size(size: int) -> int:
    """The size actually made for a request of ``size``: the next cached size up."""
    return next(cached for cached in CACHED_SIZES if cached >= size)


def thumbnail(cache_dir: Path, dataset_id: str, rel: str, source: Path, size: int) -> Path:
    """The cached thumbnail of ``source`` fitting ``size`` x ``size``, made if missing."""
    if layout.file_kind(rel) != "image":
        raise DatasetyError("Thumbnails are only available for images")
    size = cached_size(size)
    st = source.stat()
    ident = hashlib.sha256(f"{dataset_id}\0{rel}\0{size}".encode()).hexdigest()[:32]
    stem = f"{ident}-{st.st_mtime_ns:x}-{st.st_size:x}"
    folder = cache_dir / ident[:2]
    for suffix in (".jpg", ".webp"):
        cached = folder / (stem + suffix)
        if cached.is_file():
            return cached
    folder.mkdir(parents=True, exist_ok=True)
    made = _make(source, folder / stem, size, rel)
    for stale in folder.glob(f"{ident}-*"):
        if stale != made and not atomic.is_temp_name(stale.name):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    return made


def _make(source: Path, stem: Path, size: int, rel: str) -> Path:
    try:
        with Image.open(source) as image:
            image.draft("RGB", (size, size))  # JPEG decodes at a reduced scale: much faster
            image = ImageOps.exif_transpose(image)
            image.thumbnail((size, size), Image.Resampling.LANCZOS)
            alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            if alpha:
                dest = stem.with_name(stem.name + ".webp")
                image = image.convert("RGBA")
                with atomic.atomic_path(dest) as tmp:
                    image.save(tmp, "WEBP", quality=85)
            else:
                dest = stem.with_name(stem.name + ".jpg")
                image = image.convert("RGB")
                with atomic.atomic_path(dest) as tmp:
                    image.save(tmp, "JPEG", quality=85)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetyError(f"Cannot make a thumbnail of {rel}: {exc}") from exc
    return dest
