"""Open an image cheaply, then decode it upright into a libvips image.

:func:`probe` reads only the header (size after EXIF orientation), so skip decisions and dry
runs cost no decoding. :func:`decode` delivers the pixels:

* 8-bit 3-band JPEGs (nearly every photo) are decoded by libjpeg-turbo through simplejpeg into
  a reused per-thread buffer: pixel-identical to libvips' own JPEG decoder but about a quarter
  less CPU, most of it page faults of a fresh 18 MB buffer per image;
* other JPEGs (greyscale, CMYK) and PNG, WebP, TIFF, GIF ... are decoded by libvips, streaming;
* formats libvips cannot read (BMP, for one) by Pillow.

JPEGs can shrink by 2, 4 or 8 while decoding (DCT scaling). Every route applies the EXIF
orientation, and keeps an embedded ICC profile on the image for the sRGB conversion.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips
import simplejpeg

# Reuse the decode buffer for images up to ~21 MP; a larger one gets its own buffer, so a
# single huge image does not pin hundreds of megabytes for the rest of the batch.
MAX_REUSED_BUFFER = 64 * 1024 * 1024

# libvips' own warnings ("read gave 2 warnings") would reach stderr through logging's last
# resort handler; a file that fails is already reported, with its reason, by the caller.
logging.getLogger("pyvips").addHandler(logging.NullHandler())

_ROTATED = (5, 6, 7, 8)  # orientations that swap width and height
_local = threading.local()


class ImageReadError(Exception):
    """The file is not an image that any decoder here can read."""


@dataclass(frozen=True)
class Source:
    """An opened image: its upright size and how to decode it."""

    path: Path
    width: int
    height: int
    header: pyvips.Image | None  # None: libvips cannot read it, Pillow will

    @property
    def fast_jpeg(self) -> bool:
        """True for the common 8-bit YCbCr JPEG that simplejpeg decodes."""
        header = self.header
        return (
            header is not None
            and header.get("vips-loader") == "jpegload"
            and header.interpretation == "srgb"
            and header.bands == 3
        )


def probe(path: Path) -> Source:
    """Read the header of ``path``: upright size, no pixels decoded."""
    try:
        header = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="truncated")
    except pyvips.Error as exc:
        if "not a known file format" not in (exc.detail or ""):
            raise
        return _probe_with_pillow(path)
    width, height = header.width, header.height
    if _orientation(header) in _ROTATED:
        width, height = height, width
    return Source(path, width, height, header)


def decode(source: Source, shrink: int = 1) -> pyvips.Image:
    """The pixels of ``source``, upright; JPEGs shrunk by ``shrink`` (1, 2, 4 or 8).

    A truncated or corrupt file raises (here or when the pixels are read), never gives a
    half-grey image.
    """
    header = source.header
    if header is None:
        return _decode_with_pillow(source.path)
    orientation = _orientation(header)
    if source.fast_jpeg:
        image = _decode_jpeg(source.path, shrink)
        if "icc-profile-data" in header.get_fields():
            image.set_type(
                pyvips.GValue.blob_type, "icc-profile-data", header.get("icc-profile-data")
            )
    else:
        options: dict[str, object] = {"fail_on": "truncated"}
        if shrink > 1 and header.get("vips-loader") == "jpegload":
            options["shrink"] = shrink
        if orientation == 1:
            options["access"] = "sequential"  # streams: memory stays at a few strips
        # else: rotating reads out of order, which a sequential decode cannot serve.
        image = pyvips.Image.new_from_file(str(source.path), **options)
    if orientation == 1:
        return image
    image = image.copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return image.autorot()


def _orientation(header: pyvips.Image) -> int:
    if "orientation" not in header.get_fields():
        return 1
    value = int(header.get("orientation"))
    return value if 1 <= value <= 8 else 1


def _decode_jpeg(path: Path, shrink: int) -> pyvips.Image:
    data = path.read_bytes()
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    # Asking for at least ceil(size / shrink) picks exactly the 1/shrink DCT scale.
    min_h, min_w = -(-height // shrink), -(-width // shrink)
    size = min_h * min_w * 3
    buffer = getattr(_local, "buffer", None)
    if size > MAX_REUSED_BUFFER:
        buffer = np.empty(size, np.uint8)
    elif buffer is None or buffer.size < size:
        buffer = _local.buffer = np.empty(size, np.uint8)
    pixels = simplejpeg.decode_jpeg(
        data, colorspace="RGB", min_height=min_h, min_width=min_w, buffer=buffer, strict=True
    )
    out_h, out_w = pixels.shape[:2]
    # The vips image refers to the buffer; it is written out before this thread decodes again.
    return pyvips.Image.new_from_memory(buffer.data[: out_h * out_w * 3], out_w, out_h, 3, "uchar")


def _probe_with_pillow(path: Path) -> Source:
    from PIL import Image  # only for the rare formats libvips cannot read

    try:
        with Image.open(path) as opened:
            width, height = opened.size
            orientation = opened.getexif().get(0x0112, 1)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"cannot read image: {exc}") from exc
    if orientation in _ROTATED:
        width, height = height, width
    return Source(path, width, height, None)


def _decode_with_pillow(path: Path) -> pyvips.Image:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as opened:
            upright = ImageOps.exif_transpose(opened)
            has_alpha = "A" in upright.getbands() or "transparency" in upright.info
            pixels = upright.convert("RGBA" if has_alpha else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"cannot read image: {exc}") from exc
    bands = len(pixels.getbands())
    return pyvips.Image.new_from_memory(
        pixels.tobytes(), pixels.width, pixels.height, bands, "uchar"
    )
