"""Cached thumbnails: JPEG (WebP when the image has transparency), made once per source
version and kept in the data dir; a changed source (mtime or size) gets a new one.

Only the sizes in :data:`CACHED_SIZES` are made and kept: a request for another size gets the
smallest cached size that is at least as large, so a client walking every size from 16 to 2048
costs seven files per image, not two thousand.

Memory stays bounded whatever the image: libvips makes the thumbnail, shrinking on load where
the format allows (JPEG's DCT scaling, WebP, HEIF, TIFF pyramids) and otherwise streaming the
decode a few lines at a time (a 12000x12000 PNG costs tens of megabytes, not the gigabyte of a
whole decode); an image over :data:`MAX_PIXELS` is refused with 400 before any decoding; and at
most :data:`MAX_RENDERS` thumbnails are made at once, the rest wait their turn.

libvips (with numpy and simplejpeg) is imported at the first thumbnail made, not with the
server: ~30 MB of memory a server that only lists files never needs. Serving the web UI's page
imports it in the background (:func:`warm_up`): a gallery's first thumbnails (and the image sizes
of its first page) follow within a second, and the import takes 0.3-0.5 s on a loaded box."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from pathlib import Path

from datasety.core import atomic, layout
from datasety.core.errors import DatasetyError
from datasety.server.files import image_check

THUMB_MIN = 16
THUMB_MAX = 2048
CACHED_SIZES = (32, 64, 128, 256, 512, 1024, 2048)
# 16384 x 16384: a decode this large takes a few seconds even streamed; larger is refused.
MAX_PIXELS = 16384 * 16384
# libvips spreads one render over the cores already; each holds buffers in proportion to the
# image's width (about 45 MB for 12000 pixels), so two at once keep the total small.
MAX_RENDERS = 2
# Beside a source version's thumbnails: why it cannot be made (answered again, not retried).
FAILED_SUFFIX = ".failed"
_renders = threading.BoundedSemaphore(MAX_RENDERS)
_warming = threading.Event()


def warm_up() -> None:
    """Import what making a thumbnail (or reading an image's size) needs, in the background,
    once per process."""
    if _warming.is_set():
        return
    _warming.set()
    threading.Thread(target=_import_decoders, name="thumbnail-imports", daemon=True).start()


def _import_decoders() -> None:
    import pyvips  # noqa: F401
    from PIL import Image  # noqa: F401

    from datasety.media import vips  # noqa: F401


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
    failed = folder / (stem + FAILED_SUFFIX)
    with contextlib.suppress(FileNotFoundError):
        # This version failed before: its reason, without decoding it again.
        raise image_check.UnreadableImageError(failed.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        made = _make(source, folder / stem, size, rel)
    except image_check.UnreadableImageError as exc:
        atomic.atomic_write_text(failed, str(exc), fsync=False)
        raise
    for stale in folder.glob(f"{ident}-*"):
        if stale != made and not atomic.is_temp_name(stale.name):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    return made


def _make(source: Path, stem: Path, size: int, rel: str) -> Path:
    import pyvips

    from datasety.media import vips as vips_decode

    with _renders:
        try:
            return _render(source, stem, size, rel)
        except (pyvips.Error, vips_decode.ImageReadError, OSError, ValueError) as exc:
            reason = image_check.reason(exc).replace(str(source), rel)
            message = f"Cannot make a thumbnail of {rel}: {reason}"
            raise image_check.UnreadableImageError(message) from exc


def _render(source: Path, stem: Path, size: int, rel: str) -> Path:
    import pyvips

    from datasety.media import vips as vips_decode

    # The operation cache would keep decoded images (and serve a changed file's old pixels).
    pyvips.cache_set_max(0)
    probe = vips_decode.probe(source)  # the header only
    if probe.width * probe.height > MAX_PIXELS:
        raise DatasetyError(
            f"Cannot make a thumbnail of {rel}: {probe.width}x{probe.height} is "
            f"{probe.width * probe.height:,} pixels, more than the {MAX_PIXELS:,} allowed"
        )
    if probe.header is not None:
        # Shrink-on-load, streaming, EXIF orientation applied.
        image = pyvips.Image.thumbnail(str(source), size, height=size, size="down")
    else:  # a format only Pillow reads (BMP...): small enough, the budget above says
        image = vips_decode.decode(probe).thumbnail_image(size, height=size, size="down")
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb").cast("uchar")
    dest = stem.with_name(stem.name + (".webp" if image.hasalpha() else ".jpg"))
    with atomic.atomic_path(dest) as tmp:
        # No metadata: the orientation is applied already, and EXIF could rotate it again.
        image.write_to_file(str(tmp), Q=85, keep="none")
    return dest
