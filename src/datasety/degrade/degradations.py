"""Image degradations for restoration and upscaler training, one pure function per type.

Every function takes an RGB Pillow image, an ``intensity`` in ``[0, 1]`` and a numpy
``Generator``, and returns a new RGB image of the same size; the input is never modified.
Intensity 0 is a mild degradation, never a no-op; 1 is severe. Functions that are not random
ignore the generator, so every type has the same signature and can be chained.

The intensity scales follow the reference tool where it had a sensible one (lowres and
pixelate 2x..16x, upscale-sim 2x..8x, blur radius up to 3, JPEG quality 95..5, unsharp mask
100%..1000%); noise, motion blur and colour banding are re-defined so that each has a
measurable meaning (noise sigma, blur length in pixels, bits per channel).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter, ImageOps

Degradation = Callable[[Image.Image, float, np.random.Generator], Image.Image]


def _factor(intensity: float, low: int, high: int) -> int:
    """An integer scale factor from ``low`` (intensity 0) to ``high`` (intensity 1)."""
    return max(low, int(low + intensity * (high - low)))


def _down_up(image: Image.Image, factor: int, down: int, up: int) -> Image.Image:
    width, height = image.size
    small = image.resize((max(1, width // factor), max(1, height // factor)), down)
    return small.resize((width, height), up)


def lowres(image: Image.Image, intensity: float, rng: np.random.Generator) -> Image.Image:
    """Low resolution: bilinear downscale by 2x..16x, nearest-neighbour back up (blocky)."""
    factor = _factor(intensity, 2, 16)
    return _down_up(image, factor, Image.Resampling.BILINEAR, Image.Resampling.NEAREST)


def upscale_sim(image: Image.Image, intensity: float, rng: np.random.Generator) -> Image.Image:
    """A naive upscaler's look: bilinear downscale by 2x..8x, Lanczos back up (smooth, soft)."""
    factor = _factor(intensity, 2, 8)
    return _down_up(image, factor, Image.Resampling.BILINEAR, Image.Resampling.LANCZOS)


def oversharpen(image: Image.Image, intensity: float, rng: np.random.Generator) -> Image.Image:
    """Over-sharpening halos: unsharp mask, radius 2, strength 100%..1000%."""
    percent = int(100 + intensity * 900)
    return image.filter(ImageFilter.UnsharpMask(radius=2, percent=percent, threshold=0))


def noise_sigma(intensity: float) -> float:
    """Standard deviation (0..255 scale) of the Gaussian noise at ``intensity``: 2..50."""
    return 2.0 + 48.0 * intensity


def noise(image: Image.Image, intensity: float, rng: np.random.Generator) -> Image.Image:
    """Additive Gaussian colour noise, independent per pixel and channel."""
    pixels = np.asarray(image, dtype=np.float32)
    noise = rng.standard_normal(pixels.shape, dtype=np.float32)
    # In place: a 24-megapixel image needs two float buffers, not five.
    noise *= np.float32(noise_sigma(intensity))
    noise += pixels
    np.rint(noise, out=noise)
    np.clip(noise, 0, 255, out=noise)
    return Image.fromarray(noise.astype(np.uint8), image.mode)


def blur(image: Image.Image, intensity: float, rng: np.random.Generator) -> Image.Image:
    """Gaussian blur, radius 0.5..3 pixels."""
    return image.filter(ImageFilter.GaussianBlur(radius=max(0.5, intensity * 3.0)))


def jpeg_quality(intensity: float) -> int:
    """The JPEG quality used at ``intensity``: 95..5."""
    return max(1, int(95 - intensity * 90))


def jpeg(image: Image.Image, intensity: float, rng: np.random.Generator) -> Image.Image:
    """JPEG compression artefacts: an encode/decode round trip at quality 95..5."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=jpeg_quality(intensity))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert(image.mode)


def motion_blur_length(intensity: float) -> int:
    """Length in pixels of the motion-blur streak at ``intensity``: 3..25."""
    return int(round(3 + intensity * 22))


def motion_blur(
    image: Image.Image,
    intensity: float,
    rng: np.random.Generator,
    angle: float | None = None,
) -> Image.Image:
    """Linear motion blur: the average along a 3..25 pixel streak at a random angle.

    ``angle`` (degrees, 0 = horizontal, counter-clockwise) overrides the random direction.
    """
    if angle is None:
        angle = float(rng.uniform(0.0, 180.0))
    length = motion_blur_length(intensity)
    theta = math.radians(angle)
    steps = np.linspace(-(length - 1) / 2, (length - 1) / 2, length)
    # Image rows grow downwards, so a counter-clockwise angle moves up (negative dy).
    offsets = [(round(t * math.cos(theta)), -round(t * math.sin(theta))) for t in steps]
    pad = max(max(abs(dx), abs(dy)) for dx, dy in offsets)
    pixels = np.asarray(image, dtype=np.float32)
    height, width = pixels.shape[:2]
    # Edge padding: the streak near a border repeats the border instead of darkening it.
    padded = np.pad(pixels, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    total = np.zeros_like(pixels)
    for dx, dy in offsets:
        total += padded[pad + dy : pad + dy + height, pad + dx : pad + dx + width]
    total /= len(offsets)
    return Image.fromarray(np.clip(np.rint(total), 0, 255).astype(np.uint8), image.mode)


def pixelate_block(intensity: float) -> int:
    """Side in pixels of the pixelation blocks at ``intensity``: 2..16."""
    return _factor(intensity, 2, 16)


def pixelate(image: Image.Image, intensity: float, rng: np.random.Generator) -> Image.Image:
    """Mosaic: square blocks of 2..16 pixels from the top-left corner, each its mean colour.

    Edge blocks that do not fit are averaged over the pixels they cover, so every block is
    exactly one colour and the output keeps the input's size.
    """
    block = pixelate_block(intensity)
    pixels = np.asarray(image, dtype=np.float32)
    height, width, channels = pixels.shape
    rows, cols = -(-height // block), -(-width // block)
    # Sum per block, then divide by the number of real pixels in it (edge blocks are smaller).
    padded = np.zeros((rows * block, cols * block, channels), dtype=np.float32)
    padded[:height, :width] = pixels
    sums = padded.reshape(rows, block, cols, block, channels).sum(axis=(1, 3))
    counts = np.zeros((rows * block, cols * block), dtype=np.float32)
    counts[:height, :width] = 1.0
    sizes = counts.reshape(rows, block, cols, block).sum(axis=(1, 3))
    means = np.rint(sums / sizes[:, :, None]).astype(np.uint8)
    full = np.repeat(np.repeat(means, block, axis=0), block, axis=1)[:height, :width]
    return Image.fromarray(np.ascontiguousarray(full), image.mode)


def color_bits(intensity: float) -> int:
    """Bits kept per channel by color-bands at ``intensity``: 7..2."""
    return max(2, int(7 - intensity * 5 + 0.5))


def color_bands(image: Image.Image, intensity: float, rng: np.random.Generator) -> Image.Image:
    """Colour banding: posterize to 7..2 bits per channel (smooth gradients become steps)."""
    return ImageOps.posterize(image, color_bits(intensity))


DEGRADATIONS: dict[str, Degradation] = {
    "lowres": lowres,
    "oversharpen": oversharpen,
    "noise": noise,
    "blur": blur,
    "jpeg": jpeg,
    "motion-blur": motion_blur,
    "pixelate": pixelate,
    "color-bands": color_bands,
    "upscale-sim": upscale_sim,
}

RANDOM = "random"
TYPE_CHOICES: tuple[str, ...] = (*DEGRADATIONS, RANDOM)


def resolve_type(name: str, rng: np.random.Generator) -> str:
    """``name`` itself, or for ``random`` one concrete type drawn from ``rng``."""
    if name == RANDOM:
        names = list(DEGRADATIONS)
        return names[int(rng.integers(len(names)))]
    if name not in DEGRADATIONS:
        raise ValueError(f"unknown degradation type {name!r}")
    return name


def apply(image: Image.Image, name: str, intensity: float, rng: np.random.Generator) -> Image.Image:
    """Apply the concrete degradation ``name`` (not ``random``) to ``image``."""
    return DEGRADATIONS[name](image, intensity, rng)
