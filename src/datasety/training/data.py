"""The training set: images with ``.txt`` captions, bucketed by aspect ratio.

Bucketing keeps each image's shape: every image is resized to cover the bucket of its aspect
ratio (about ``image_size``² pixels, sides a multiple of :data:`BUCKET_MULTIPLE`) and
centre-cropped by at most a few pixels, instead of being forced into a square. A batch only
holds images of one bucket, so batches stack without padding.

The order batches are drawn in is a pure function of ``(seed, epoch)``: a resumed run finds
its place from the step number alone.

Edit pairs: when ``--input`` holds control/target pairs as the server groups them
(:func:`datasety.core.layout.placement`: ``control/`` + ``target/`` folders, or
``x_control.png`` + ``x_target.png``), each sample is a group of one target and its controls
(one, or several: ``control/x.png`` + ``input/x.png``, or ``x_control.png`` + ``x_input.png``
+ ``x_start.png``, in the order of their paths). The target is what trains, at its bucket;
each control is encoded at its own aspect ratio at the same area (as the edit pipelines take
a reference image at its own shape); the caption is the target's, else the group's, else the
first control's.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from datasety.core import layout
from datasety.core.errors import DatasetyError
from datasety.core.inputs import find_images

# 64 pixels: SDXL's UNet halves a latent three times after the VAE's 8x, FLUX.2 packs 2x2
# latent patches after its 8x; 64 suits both.
BUCKET_MULTIPLE = 64
MAX_ASPECT = 4.0


@dataclass(frozen=True)
class Control:
    """One control (reference) image of an edit pair, its content hash and the bucket it is
    encoded at."""

    path: Path
    digest: str
    bucket: tuple[int, int]


@dataclass(frozen=True)
class Sample:
    """One training image, its caption, its content hash and the bucket it trains at."""

    image: Path
    caption: str
    digest: str
    size: tuple[int, int]  # (width, height) of the file
    bucket: tuple[int, int]  # (width, height) it trains at
    controls: tuple[Control, ...] = ()  # an edit pair's controls (``image`` is its target)

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """What a batch shares: the target's bucket and its controls' (tensors stack)."""
        return (self.bucket, *(control.bucket for control in self.controls))


def bucket_for(width: int, height: int, image_size: int) -> tuple[int, int]:
    """The (width, height) an image of this shape trains at: about ``image_size``² pixels,
    the image's aspect ratio (clamped to 1:4..4:1), sides multiples of 64."""
    aspect = min(max(width / height, 1 / MAX_ASPECT), MAX_ASPECT)
    side = math.sqrt(aspect)

    def snap(value: float) -> int:
        return max(BUCKET_MULTIPLE, round(value / BUCKET_MULTIPLE) * BUCKET_MULTIPLE)

    return snap(image_size * side), snap(image_size / side)


def load_samples(
    folder: Path,
    image_size: int,
    recursive: bool = False,
    note: Callable[[str], None] | None = None,
) -> list[Sample]:
    """Every image under ``folder`` with its caption (empty when it has no ``.txt``), or,
    when the folder holds edit pairs, every pair (``note`` hears of the images left out)."""
    images = find_images(folder, recursive)
    candidates = list(images)
    if not recursive:  # a pair dataset's control/ and target/ folders, even without it
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if sub.name.lower() in layout.ROLE_FOLDERS:
                candidates.extend(find_images(sub))
    pairs, left_out = edit_pairs(folder, candidates)
    if pairs:
        if left_out and note is not None:
            note(
                f"{len(left_out)} images are in no control/target pair and are left out: "
                f"{named(left_out)}"
            )
        samples = [pair_sample(folder, target, controls, image_size) for target, controls in pairs]
    else:
        samples = [image_sample(folder, path, image_size) for path in images]
    if not samples:
        raise DatasetyError(f"--input {str(folder)!r} holds no images to train on")
    return samples


def named(paths: list[str], shown: int = 3) -> str:
    """The first ``shown`` of ``paths``, and `` ...`` when there are more."""
    return ", ".join(paths[:shown]) + (" ..." if len(paths) > shown else "")


def edit_pairs(folder: Path, images: list[Path]) -> tuple[list[tuple[Path, list[Path]]], list[str]]:
    """``([(target, [control, ...]), ...], left_out)``: the images grouped as the server groups
    them (:func:`layout.placement`), a pair being a group with one target image and one or
    more input images (sorted by path); ``left_out`` names (relative) the images in no pair."""
    groups: dict[tuple[str, str], dict[str, list[Path]]] = {}
    for path in images:
        where = layout.placement(path.relative_to(folder).as_posix())
        roles = groups.setdefault((where.group_dir, where.base), {})
        roles.setdefault(where.role or "", []).append(path)
    pairs = []
    paired: set[Path] = set()
    for roles in groups.values():
        targets, controls = roles.get("target", []), sorted(roles.get("input", []))
        if len(targets) == 1 and controls:
            pairs.append((targets[0], controls))
            paired.update((targets[0], *controls))
    left_out = [p.relative_to(folder).as_posix() for p in images if p not in paired]
    return sorted(pairs), left_out


def limit_controls(
    samples: list[Sample], most: int, model: str, note: Callable[[str], None]
) -> list[Sample]:
    """The pairs with at most ``most`` controls (what ``model`` takes at inference); the run
    hears of those left out, and a dataset with none left is a one-line error."""
    kept = [s for s in samples if len(s.controls) <= most]
    if len(kept) == len(samples):
        return samples
    dropped = [s.image.name for s in samples if len(s.controls) > most]
    reason = f"{model} takes {most} reference image{'s' if most > 1 else ''}"
    if not kept:
        raise DatasetyError(
            f"every pair of --input has more than {most} control images and {reason}: train "
            f"several controls per pair on Qwen-Image-Edit-2509 or FLUX.2-klein"
        )
    note(
        f"{len(dropped)} pairs have more than {most} control images and are left out "
        f"({reason}): {named(dropped)}"
    )
    return kept


def read_caption(folder: Path, candidates: list[str]) -> str:
    """The first of the dataset-relative caption files that exists, stripped ("" if none)."""
    for candidate in candidates:
        try:
            return (folder / candidate).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, IsADirectoryError):
            continue
    return ""


def read_image(path: Path) -> tuple[str, tuple[int, int]]:
    """``(sha256 of its bytes, (width, height))``."""
    try:
        data = path.read_bytes()
        with Image.open(path) as image:
            size = image.size
    except (OSError, Image.DecompressionBombError) as exc:
        raise DatasetyError(f"cannot read training image {path}: {exc}") from exc
    return hashlib.sha256(data).hexdigest(), size


def image_sample(folder: Path, path: Path, image_size: int) -> Sample:
    digest, size = read_image(path)
    caption = read_caption(folder, [layout.sidecar_path(path.relative_to(folder).as_posix())])
    return Sample(path, caption, digest, size, bucket_for(size[0], size[1], image_size))


def pair_sample(folder: Path, target: Path, controls: list[Path], image_size: int) -> Sample:
    digest, size = read_image(target)
    references = []
    for control in controls:
        control_digest, (width, height) = read_image(control)
        references.append(Control(control, control_digest, bucket_for(width, height, image_size)))
    # One caption serves the pair: the target's own, the group's, then the first control's.
    candidates = layout.caption_candidates(target.relative_to(folder).as_posix())
    for candidate in layout.caption_candidates(controls[0].relative_to(folder).as_posix()):
        if candidate not in candidates:
            candidates.append(candidate)
    caption = read_caption(folder, candidates)
    bucket = bucket_for(size[0], size[1], image_size)
    return Sample(target, caption, digest, size, bucket, tuple(references))


def dataset_hash(samples: list[Sample]) -> str:
    """One hash of the images' bytes (a pair's all, its controls in order) and their captions
    (names do not matter, order of samples does not)."""
    digest = hashlib.sha256()
    for line in sorted(_hash_line(s) for s in samples):
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _hash_line(sample: Sample) -> str:
    controls = "".join(f"{control.digest}\t" for control in sample.controls)
    return f"{sample.digest}\t{controls}{sample.caption}"


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
    """The batches (indices into ``samples``) of one epoch: each bucket (with an edit pair's
    control buckets) shuffled and cut into batches, then the batches shuffled. Depends only on
    its arguments."""
    rng = random.Random(f"{seed}:{epoch}")
    by_bucket: dict[tuple[tuple[int, int], ...], list[int]] = {}
    for index, sample in enumerate(samples):
        by_bucket.setdefault(sample.shapes, []).append(index)
    batches: list[list[int]] = []
    for bucket in sorted(by_bucket):
        members = by_bucket[bucket]
        rng.shuffle(members)
        batches.extend(members[i : i + batch_size] for i in range(0, len(members), batch_size))
    rng.shuffle(batches)
    return batches


class BatchOrder:
    """The endless sequence of epochs' batches, the current epoch's kept: a step draws its
    batch with a lookup instead of shuffling the whole dataset twice (53 ms a batch at
    10,000 images)."""

    def __init__(self, samples: list[Sample], batch_size: int, seed: int) -> None:
        self.samples = samples
        self.batch_size = batch_size
        self.seed = seed
        # Every epoch has as many batches: the buckets' sizes do not change, only the order.
        self.per_epoch = len(epoch_batches(samples, batch_size, seed, 0))
        self._epoch = -1
        self._batches: list[list[int]] = []

    def batch(self, index: int) -> list[int]:
        """The ``index``-th batch (indices into ``samples``)."""
        epoch, position = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            self._batches = epoch_batches(self.samples, self.batch_size, self.seed, epoch)
            self._epoch = epoch
        return self._batches[position]


def batch_at(samples: list[Sample], batch_size: int, seed: int, index: int) -> list[int]:
    """The ``index``-th batch of the endless sequence of epochs."""
    return BatchOrder(samples, batch_size, seed).batch(index)


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
