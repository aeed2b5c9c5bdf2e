"""A binary mask made ready to save: dilated (``--padding``), feathered (``--blur``), inverted."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow the white area of a 0/255 mask by ``radius`` pixels (a square neighbourhood).

    Summed-area tables make it cost the same for any radius (a max filter of 2r+1 costs
    (2r+1)^2 per pixel, seconds for a wide padding on a large image).
    """
    if radius <= 0:
        return mask
    on = (mask > 127).astype(np.int32)
    height, width = on.shape
    table = np.zeros((height + 1, width + 1), np.int32)
    table[1:, 1:] = on.cumsum(0).cumsum(1)
    rows = np.arange(height)
    cols = np.arange(width)
    top = np.clip(rows - radius, 0, height)[:, None]
    bottom = np.clip(rows + radius + 1, 0, height)[:, None]
    left = np.clip(cols - radius, 0, width)[None, :]
    right = np.clip(cols + radius + 1, 0, width)[None, :]
    window = table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]
    return np.where(window > 0, 255, 0).astype(np.uint8)


def finish_mask(mask: np.ndarray, padding: int, blur: int, invert: bool) -> Image.Image:
    """The single-channel ("L") mask image to save, same size as ``mask``."""
    shaped = dilate(mask, padding)
    image = Image.fromarray(shaped, mode="L")
    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(radius=blur))
    if invert:
        image = Image.eval(image, lambda value: 255 - value)
    return image


def coverage(image: Image.Image) -> float:
    """Percentage of the mask that is white (above mid-grey)."""
    array = np.asarray(image)
    return float((array > 127).mean() * 100.0)
