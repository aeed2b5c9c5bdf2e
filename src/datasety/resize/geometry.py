"""Resize geometry for `datasety resize`: pure functions, no image library.

Every size decision lives here so it can be tested by hand-computed numbers:

* :func:`cover_crop` - scale an image so it covers the target, then the crop box that keeps the
  region named by ``--crop-position``;
* :func:`megapixel_size` - the target for ``--megapixel`` (optionally at ``--aspect-ratio``);
* :func:`needs_upscale` / :func:`below_minimum` - the skip rules;
* :func:`load_shrink` - how much a JPEG may be shrunk while it is decoded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from datasety.core.errors import DatasetyError

CROP_POSITIONS = ("top", "center", "bottom", "left", "right")

# --megapixel sizes are rounded to multiples of 8, as the reference does: every common
# latent-diffusion VAE downsamples by 8, and users' existing datasets follow this rule.
MEGAPIXEL_MULTIPLE = 8

_ASPECT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class CoverCrop:
    """Resize the whole image to ``scaled``, then keep ``box`` = (left, top, width, height)."""

    scaled: tuple[int, int]
    box: tuple[int, int, int, int]


def cover_crop(
    width: int, height: int, target_w: int, target_h: int, position: str = "center"
) -> CoverCrop:
    """Scale ``width x height`` to cover ``target_w x target_h`` and pick the kept region.

    The side that fits exactly is scaled to the target; the other keeps the aspect ratio
    (rounded, never below the target), so only one axis is ever cropped. ``position`` names
    what to keep on that axis: top/bottom act on a vertical crop, left/right on a horizontal
    one; on the other axis (and for ``center``) the crop is centred, as in the reference.
    """
    if position not in CROP_POSITIONS:
        raise DatasetyError(f"unknown crop position {position!r}")
    if width * target_h > target_w * height:
        # Wider than the target: height fits, width is cropped.
        scaled_w, scaled_h = max(target_w, round(width * target_h / height)), target_h
    else:
        scaled_w, scaled_h = target_w, max(target_h, round(height * target_w / width))
    spare_w, spare_h = scaled_w - target_w, scaled_h - target_h
    left = {"left": 0, "right": spare_w}.get(position, spare_w // 2)
    top = {"top": 0, "bottom": spare_h}.get(position, spare_h // 2)
    return CoverCrop((scaled_w, scaled_h), (left, top, target_w, target_h))


def parse_aspect_ratio(text: str, flag: str = "--aspect-ratio") -> float:
    """``"16:9"`` -> ``16/9``; a one-line error for anything else."""
    match = _ASPECT.match(text or "")
    if not match or float(match.group(1)) <= 0 or float(match.group(2)) <= 0:
        raise DatasetyError(f"{flag} must look like W:H (e.g. 16:9), got {text!r}")
    return float(match.group(1)) / float(match.group(2))


def megapixel_size(megapixel: float, aspect: float) -> tuple[int, int]:
    """About ``megapixel`` million pixels at ``aspect`` (width / height), multiples of 8.

    Each side is rounded to the nearest multiple of :data:`MEGAPIXEL_MULTIPLE` (at least one
    multiple), so 1.0 MP at 1:1 is 1000x1000 and at 16:9 is 1336x752.
    """
    if not megapixel > 0:
        raise DatasetyError(f"--megapixel must be greater than 0, got {megapixel}")
    height = math.sqrt(megapixel * 1_000_000 / aspect)
    width = height * aspect
    step = MEGAPIXEL_MULTIPLE
    return max(step, round(width / step) * step), max(step, round(height / step) * step)


def needs_upscale(width: int, height: int, target_w: int, target_h: int) -> bool:
    """True when the image is smaller than the target on both sides (the reference's rule).

    Such an image is skipped unless ``--upscale``; one that is short on one side only is
    still processed (its other side covers the target).
    """
    return width < target_w and height < target_h


def below_minimum(width: int, height: int, minimum: tuple[int, int] | None) -> bool:
    """True when either side is below ``--min-resolution``."""
    return minimum is not None and (width < minimum[0] or height < minimum[1])


def load_shrink(width: int, height: int, scaled: tuple[int, int]) -> int:
    """The JPEG shrink-on-load factor (1, 2, 4 or 8) for a resize to ``scaled``.

    Decoding at 1/2, 1/4 or 1/8 scale is several times cheaper. Like libvips' thumbnail we
    leave at least a 2x reduction for the final Lanczos resize, because the decoder's block
    shrink alone aliases fine detail.
    """
    factor = min(width / scaled[0], height / scaled[1])
    for shrink in (8, 4, 2):
        if factor >= 2 * shrink:
            return shrink
    return 1
