"""Image preprocessing for vision models, from the repository's ``preprocessor_config.json``.

transformers' own image processors for SAM 2 and SAM 3 need torchvision, whose wheels are
built against CUDA torch and do not load with the CPU build; the CLIP-family processors work
but convert each image several times. This module does the same steps once, with Pillow and
numpy, reading the same settings: resize (to a fixed size, or the shortest edge), optional
centre crop, rescale, normalise. It runs in the decode threads, off the model's path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

IMAGENET_STANDARD = (0.5, 0.5, 0.5)
# Hub repositories keep the image processor's settings in preprocessor_config.json; a processor
# saved by recent transformers nests them under "image_processor" in processor_config.json.
CONFIG_FILES = ("preprocessor_config.json", "processor_config.json")


@dataclass(frozen=True)
class PixelSpec:
    """How a model wants its pixels: the numbers of a ``preprocessor_config.json``."""

    size: tuple[int, int] | None = None  # (height, width): resize to exactly this
    shortest_edge: int | None = None  # or: resize so the shorter side is this long
    crop: tuple[int, int] | None = None  # (height, width) centre crop after the resize
    resample: int = Image.Resampling.BILINEAR
    rescale: float = 1 / 255
    mean: tuple[float, ...] = IMAGENET_STANDARD
    std: tuple[float, ...] = IMAGENET_STANDARD

    def min_decode_size(self) -> tuple[int, int]:
        """The smallest decode (width, height) that loses nothing before the resize."""
        if self.size is not None:
            return self.size[1], self.size[0]
        edge = self.shortest_edge or 0
        return edge, edge

    def pixels(self, image: Image.Image) -> np.ndarray:
        """``image`` (RGB) as a float32 ``(3, H, W)`` array ready for the model."""
        if self.size is not None:
            height, width = self.size
            image = image.resize((width, height), self.resample)
        elif self.shortest_edge is not None:
            scale = self.shortest_edge / min(image.size)
            width = max(1, round(image.width * scale))
            height = max(1, round(image.height * scale))
            image = image.resize((width, height), self.resample)
        if self.crop is not None:
            height, width = self.crop
            left = (image.width - width) // 2
            top = (image.height - height) // 2
            image = image.crop((left, top, left + width, top + height))
        scaled = np.asarray(image, dtype=np.float32) * np.float32(self.rescale)
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        normalised = (scaled - mean) / std
        return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, dict) and "height" in value and "width" in value:
        return int(value["height"]), int(value["width"])
    if isinstance(value, int):
        return value, value
    return None


def read_spec(folder: Path, default: PixelSpec) -> PixelSpec:
    """The pixel settings saved with the model in ``folder``, ``default`` for missing keys."""
    config: dict[str, Any] | None = None
    for name in CONFIG_FILES:
        if (folder / name).is_file():
            saved = json.loads((folder / name).read_text())
            config = saved.get("image_processor", saved)
            break
    if not isinstance(config, dict):
        return default
    size = config.get("size", None)
    fixed = _pair(size) if not (isinstance(size, dict) and "shortest_edge" in size) else None
    shortest = size.get("shortest_edge") if isinstance(size, dict) else None
    crop = _pair(config.get("crop_size")) if config.get("do_center_crop") else None
    return PixelSpec(
        size=fixed if config.get("do_resize", True) else None,
        shortest_edge=int(shortest) if shortest and config.get("do_resize", True) else None,
        crop=crop,
        resample=int(config.get("resample", default.resample)),
        rescale=float(config.get("rescale_factor", default.rescale))
        if config.get("do_rescale", True)
        else 1.0,
        mean=tuple(config.get("image_mean", default.mean))
        if config.get("do_normalize", True)
        else (0.0, 0.0, 0.0),
        std=tuple(config.get("image_std", default.std))
        if config.get("do_normalize", True)
        else (1.0, 1.0, 1.0),
    )
