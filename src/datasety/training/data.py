"""The training set: images with ``.txt`` captions, bucketed by aspect ratio.

Bucketing keeps each image's shape: every image is resized to cover the bucket of its aspect
ratio (about ``image_size``² pixels, sides a multiple of :data:`BUCKET_MULTIPLE`) and
centre-cropped by at most a few pixels, instead of being forced into a square. A batch only
holds images of one bucket, so batches stack without padding.

The order batches are drawn in is a pure function of ``(seed, epoch)``: a resumed run finds
its place from the step number alone.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from datasety.core.errors import DatasetyError
from datasety.core.inputs import find_images
from datasety.core.sidecars import caption_of

# 64 pixels: SDXL's UNet halves a latent three times after the VAE's 8x, FLUX.2 packs 2x2
# latent patches after its 8x; 64 suits both.
BUCKET_MULTIPLE = 64
MAX_ASPECT = 4.0


@dataclass(frozen=True)
class Sample:
    """One training image, its caption, its content hash and the bucket it trains at."""

    image: Path
    caption: str
    digest: str
    size: tuple[int, int]  # (width, height) of the file
    bucket: tuple[int, int]  # (width, height) it trains at


def bucket_for(width: int, height: int, image_size: int) -> tuple[int, int]:
    """The (width, height) an image of this shape trains at: about ``image_size``² pixels,
    the image's aspect ratio (clamped to 1:4..4:1), sides multiples of 64."""
    aspect = min(max(width / height, 1 / MAX_ASPECT), MAX_ASPECT)
    side = math.sqrt(aspect)

    def snap(value: float) -> int:
        return max(BUCKET_MULTIPLE, round(value / BUCKET_MULTIPLE) * BUCKET_MULTIPLE)

    return snap(image_size * side), snap(image_size / side)


def load_samples(folder: Path, image_size: int, recursive: bool = False) -> list[Sample]:
    """Every image under ``folder`` with its caption (empty when it has no ``.txt``)."""
    samples = []
    for path in find_images(folder, recursive):
        try:
            data = path.read_bytes()
            with Image.open(path) as image:
                size = image.size
        except (OSError, Image.DecompressionBombError) as exc:
            raise DatasetyError(f"cannot read training image {path}: {exc}") from exc
        try:
            caption = caption_of(path).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            caption = ""
        digest = hashlib.sha256(data).hexdigest()
        bucket = bucket_for(size[0], size[1], image_size)
        samples.append(Sample(path, caption, digest, size, bucket))
    if not samples:
        raise DatasetyError(f"--input {str(folder)!r} holds no images to train on")
    return samples


def dataset_hash(samples: list[Sample]) -> str:
    """One hash of the images' bytes and their captions (names do not matter, order does not)."""
    digest = hashlib.sha256()
    for line in sorted(f"{s.digest}\t{s.caption}" for s in samples):
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def split_validation(
    samples: list[Sample], fraction: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """``(train, validation)``: ``fraction`` of the samples (at least one when > 0) held out,
    picked by ``seed``; at least one sample always stays for training."""
    if fraction <= 0:
        return samples, []
    count = min(len(samples) - 1, max(1, int(len(samples) * fraction)))
    if count <= 0:
        raise DatasetyError("--validation-split needs at least two images")
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    held = set(order[:count])
    train = [s for i, s in enumerate(samples) if i not in held]
    return train, [s for i, s in enumerate(samples) if i in held]


def epoch_batches(samples: list[Sample], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches (indices into ``samples``) of one epoch: each bucket shuffled and cut into
    batches, then the batches shuffled. Depends only on its arguments."""
    rng = random.Random(f"{seed}:{epoch}")
    by_bucket: dict[tuple[int, int], list[int]] = {}
    for index, sample in enumerate(samples):
        by_bucket.setdefault(sample.bucket, []).append(index)
    batches: list[list[int]] = []
    for bucket in sorted(by_bucket):
        members = by_bucket[bucket]
        rng.shuffle(members)
        batches.extend(members[i : i + batch_size] for i in range(0, len(members), batch_size))
    rng.shuffle(batches)
    return batches


def batch_at(samples: list[Sample], batch_size: int, seed: int, index: int) -> list[int]:
    """The ``index``-th batch of the endless sequence of epochs (every epoch has as many
    batches: the buckets' sizes do not change, only the order)."""
    per_epoch = len(epoch_batches(samples, batch_size, seed, 0))
    epoch, position = divmod(index, per_epoch)
    return epoch_batches(samples, batch_size, seed, epoch)[position]


def fit_to_bucket(image: Image.Image, bucket: tuple[int, int]) -> tuple[Image.Image, int, int]:
    """``(image, crop_top, crop_left)``: ``image`` resized to cover ``bucket`` and centre-
    cropped to it (the crop offsets are what SDXL's size conditioning wants)."""
    width, height = bucket
    scale = max(width / image.width, height / image.height)
    resized = image.resize(
        (max(width, round(image.width * scale)), max(height, round(image.height * scale))),
        Image.Resampling.LANCZOS,
    )
    left = (resized.width - width) // 2
    top = (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height)), top, left
