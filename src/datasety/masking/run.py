"""Driving a mask batch: load the model once, segment in batches, shape and save each mask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from datasety.core.atomic import atomic_path
from datasety.core.progress import Progress
from datasety.masking.segmenters import Prepared, build_segmenter
from datasety.masking.shaping import coverage, finish_mask
from datasety.masking.targets import MaskTarget
from datasety.models.batching import decode_for_model, run_batches
from datasety.models.device import choose_device
from datasety.models.extras import torch_and_transformers

SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "png": {"format": "PNG"},
    "jpg": {"format": "JPEG", "quality": 95},
    "webp": {"format": "WEBP", "lossless": True},  # exact 0/255 edges, as in a PNG
}


@dataclass(frozen=True)
class MaskSettings:
    """Everything ``datasety mask`` takes besides the files."""

    keywords: tuple[str, ...]
    model: str = "sam3"
    device: str = "auto"
    threshold: float = 0.3
    padding: int = 0
    blur: int = 0
    invert: bool = False
    output_format: str = "png"
    batch_size: int = 4
    dry_run: bool = False


def parse_keywords(text: str) -> tuple[str, ...]:
    """``"face, hair,,hat"`` -> ``("face", "hair", "hat")``."""
    return tuple(word.strip() for word in text.split(",") if word.strip())


def select_targets(
    targets: Sequence[MaskTarget], skip_existing: bool, progress: Progress
) -> list[MaskTarget]:
    """The targets to mask; with ``skip_existing``, those whose mask exists are skipped."""
    todo = []
    for target in targets:
        if skip_existing and target.mask.exists():
            progress.skipped(target.name, "mask exists")
        else:
            todo.append(target)
    return todo


def save_mask(target: MaskTarget, image: Image.Image, output_format: str) -> None:
    """Write ``image`` as ``target.mask`` atomically (a reader never sees half a mask)."""
    target.mask.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target.mask) as temporary:
        image.save(temporary, **SAVE_OPTIONS[output_format])


def make_masks(targets: Sequence[MaskTarget], settings: MaskSettings, progress: Progress) -> None:
    """Segment every target's image for ``settings.keywords`` and write its mask."""
    if not targets:
        return
    torch, transformers = torch_and_transformers("mask")
    # SAM 2's detector takes float32 inputs only: it runs in float32 on a GPU too.
    device = choose_device(torch, settings.device, half=settings.model != "sam2")
    progress.note(f"Model {settings.model} on {device.describe()}")
    segmenter = build_segmenter(
        settings.model,
        torch,
        transformers,
        device,
        list(settings.keywords),
        settings.threshold,
        progress.note,
    )
    min_size = segmenter.spec.min_decode_size()

    def decode(target: MaskTarget) -> tuple[Prepared, int]:
        image, width, height = decode_for_model(target.image, min_size)
        prepared = segmenter.prepare(image, width, height)
        return prepared, prepared.pixels.nbytes + width * height

    def handle(target: MaskTarget, _: Prepared, mask: np.ndarray) -> None:
        shaped = finish_mask(mask, settings.padding, settings.blur, settings.invert)
        share = f"{coverage(shaped):.1f}% coverage"
        if settings.dry_run:
            progress.processed(target.name, f"would write {target.mask} ({share})")
            return
        try:
            save_mask(target, shaped, settings.output_format)
        except OSError as exc:
            progress.failed(target.name, f"cannot write {target.mask}: {exc.strerror or exc}")
            return
        progress.processed(target.name, f"{target.name} -> {target.mask} ({share})")

    run_batches(
        torch,
        targets,
        decode=decode,
        infer=segmenter.segment,
        handle=handle,
        fail=lambda target, reason: progress.failed(target.name, reason),
        succeeded=lambda: progress.n_processed,
        batch_size=settings.batch_size,
        model_name=segmenter.repo,
    )
