"""`degrade` as plain functions: plan every output of a batch, then degrade image by image.

Output names (``EXT`` is the output format's suffix):

* one output per image: ``<stem>.EXT``, and with ``--num-variants N > 1``:
  ``<stem>_1.EXT`` .. ``<stem>_N.EXT`` (the reference tool's names). With ``--chain`` the
  output goes through every ``--type`` in order; with several types and no ``--chain`` each
  output gets one of them, drawn at random (the reference tool's behaviour), as ``random``
  draws one of all types;
* ``--paired``: the degraded image goes to ``control/<name>`` and the original, in the same
  format, to ``target/<name>``; ``--recursive`` keeps subfolders below both.
* the image's ``.txt`` caption is copied beside every output, both sides of a pair included,
  named after it (:mod:`datasety.core.sidecars`), unless ``--no-captions``.

Names that still collide (``photo.jpg`` and ``photo.png`` in one folder both make
``photo.png``) are caught while planning: the later file in sorted order is reported as
failed and nothing is overwritten. An output that would replace its own input fails too.

Randomness: each output draws from its own generators, derived from the seed, the image's
relative path, the recipe and the variant number. With ``--seed`` the bytes therefore depend
on nothing else: not the worker count, not the processing order, not the other files.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from datasety.core.atomic import atomic_write_bytes
from datasety.core.errors import DatasetyError
from datasety.core.inputs import OUTPUT_FORMATS, find_images
from datasety.core.parallel import imap, worker_count
from datasety.core.randomness import rng_for
from datasety.core.sidecars import carry_caption
from datasety.degrade import degradations

# Pillow save options per output format: high quality, since the degradation is the point
# and the encoder should not add artefacts of its own.
SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "PNG": {},
    "JPEG": {"quality": 95},
    "WEBP": {"quality": 95},
}

# Errors Pillow raises for unreadable, truncated or hostile files.
IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)

_NUMBER = r"\s*(\d+(?:\.\d*)?|\.\d+)\s*"
_RANGE = re.compile(rf"^{_NUMBER}[,\-:]{_NUMBER}$")


def parse_intensity_range(text: str) -> tuple[float, float]:
    """``"0.2,0.8"`` (or the reference's ``"0.2-0.8"``) -> ``(0.2, 0.8)``, within 0..1."""
    match = _RANGE.match(text or "")
    if not match:
        raise DatasetyError(
            f"--intensity-range must look like MIN,MAX (e.g. 0.2,0.8), got {text!r}"
        )
    low, high = float(match.group(1)), float(match.group(2))
    if not (0.0 <= low <= high <= 1.0):
        raise DatasetyError(f"--intensity-range needs 0 <= MIN <= MAX <= 1, got {text!r}")
    return low, high


@dataclass(frozen=True)
class Settings:
    """What to apply: the parsed, validated degrade options."""

    types: tuple[str, ...] = (degradations.RANDOM,)
    chain: bool = False
    intensity: float = 0.5
    intensity_range: tuple[float, float] | None = None
    num_variants: int = 1
    paired: bool = False
    seed: int = 0
    output_format: str = "png"
    dry_run: bool = False
    captions: bool = True


@dataclass(frozen=True)
class Recipe:
    """One output family: a label for its file name (or none) and its types.

    ``pick_one``: apply one of ``types`` drawn at random; otherwise all of them, in order.
    """

    label: str | None
    types: tuple[str, ...]
    pick_one: bool = False


def recipes(types: Sequence[str], chain: bool) -> list[Recipe]:
    """The outputs each image gets: one chain, or one type drawn from those given."""
    if not types:
        types = (degradations.RANDOM,)
    if chain:
        return [Recipe(None, tuple(types))]
    distinct = tuple(dict.fromkeys(types))
    return [Recipe(None, distinct, pick_one=len(distinct) > 1)]


@dataclass(frozen=True)
class Output:
    """One degraded file (and its paired original), with the key its randomness derives from."""

    path: Path
    target: Path | None
    recipe: Recipe
    variant: int  # 1-based


@dataclass(frozen=True)
class Job:
    """One input image and every file it produces."""

    source: Path
    item: str  # the image's path relative to the input root, for messages and seeding
    outputs: tuple[Output, ...]
    settings: Settings


def output_names(stem: str, suffix: str, settings: Settings) -> list[tuple[str, Recipe, int]]:
    """``(file name, recipe, variant)`` for every output of an image with ``stem``."""
    names = []
    for recipe in recipes(settings.types, settings.chain):
        for variant in range(1, settings.num_variants + 1):
            name = stem
            if recipe.label:
                name += f"_{recipe.label}"
            if settings.num_variants > 1:
                name += f"_{variant}"
            names.append((name + suffix, recipe, variant))
    return names


def plan_outputs(
    out_root: Path, rel_dir: str, stem: str, settings: Settings, suffix: str | None = None
) -> tuple[Output, ...]:
    """Every output path of one image, laid out under ``out_root``.

    ``suffix`` defaults to the output format's own (``.jpg`` for jpg).
    """
    suffix = suffix or OUTPUT_FORMATS[settings.output_format][0]
    outputs = []
    for name, recipe, variant in output_names(stem, suffix, settings):
        if settings.paired:
            path = out_root / "control" / rel_dir / name
            target: Path | None = out_root / "target" / rel_dir / name
        else:
            path, target = out_root / rel_dir / name, None
        outputs.append(Output(path, target, recipe, variant))
    return tuple(outputs)


@dataclass(frozen=True)
class Planned:
    """A job to run, or an image refused while planning (``reason`` says why)."""

    job: Job
    reason: str | None = None


def plan_batch(
    input_root: Path, out_root: Path, settings: Settings, recursive: bool
) -> list[Planned]:
    """Plan a folder: every image, its outputs, and refusals for colliding names."""
    images = find_images(input_root, recursive=recursive)
    # An output folder inside the input folder must not feed a later run's outputs back in.
    root = input_root.resolve()
    inner = out_root.resolve()
    excluded = [inner] if inner != root else []
    if settings.paired:
        excluded += [inner / "control", inner / "target"]
    excluded = [folder for folder in excluded if folder.is_relative_to(root)]
    if excluded:
        images = [p for p in images if not any(p.resolve().is_relative_to(f) for f in excluded)]
    jobs = []
    for source in images:
        relative = source.relative_to(input_root)
        rel_dir = relative.parent.as_posix() if relative.parent != Path(".") else ""
        item = relative.as_posix()
        outputs = plan_outputs(out_root, rel_dir, source.stem, settings)
        jobs.append(Job(source, item, outputs, settings))
    return refuse_collisions(jobs)


def plan_single(
    source: Path, out_root: Path, stem: str, settings: Settings, suffix: str | None = None
) -> list[Planned]:
    """Plan single-image mode: one image, outputs named after ``stem`` in ``out_root``."""
    outputs = plan_outputs(out_root, "", stem, settings, suffix)
    return refuse_collisions([Job(source, source.name, outputs, settings)])


def refuse_collisions(jobs: list[Job]) -> list[Planned]:
    """Refuse jobs whose outputs would overwrite an input or an earlier job's output."""
    inputs = {job.source.resolve(): job.item for job in jobs}
    claimed: dict[Path, str] = {}
    planned = []
    for job in jobs:
        paths = [p for out in job.outputs for p in (out.path, out.target) if p is not None]
        reason = None
        for path in paths:
            resolved = path.resolve()
            if resolved in inputs:
                reason = f"output {path.name} would overwrite the input {inputs[resolved]}"
            elif resolved in claimed:
                reason = f"output {path.name} would overwrite the output of {claimed[resolved]}"
            if reason:
                break
        if reason is None:
            claimed.update((path.resolve(), job.item) for path in paths)
        planned.append(Planned(job, reason))
    return planned


def outputs_exist(job: Job) -> bool:
    """True when every file the job would write is already there (``--skip-existing``)."""
    return all(
        path.exists() for out in job.outputs for path in (out.path, out.target) if path is not None
    )


# -- running one image (in a worker process) --------------------------------------------------


def load_rgb(path: Path) -> Image.Image:
    """The image upright (EXIF orientation applied), as RGB; transparency over white."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def encode(image: Image.Image, output_format: str) -> bytes:
    """``image`` encoded in ``output_format`` (png, jpg, webp); deterministic bytes."""
    pillow_format = OUTPUT_FORMATS[output_format][1]
    buffer = io.BytesIO()
    image.save(buffer, format=pillow_format, **SAVE_OPTIONS[pillow_format])
    return buffer.getvalue()


def choose_steps(job: Job, output: Output) -> list[tuple[str, float]]:
    """The concrete ``(type, intensity)`` steps of one output (``random`` resolved).

    Drawn from their own generator, separate from the pixel noise, so a dry run shows
    exactly the steps a real run applies without decoding the image.
    """
    settings = job.settings
    rng = rng_for(settings.seed, job.item, output.recipe.label, output.variant, "steps")
    names = output.recipe.types
    if output.recipe.pick_one:
        names = (names[int(rng.integers(len(names)))],)
    steps = []
    for name in names:
        concrete = degradations.resolve_type(name, rng)
        if settings.intensity_range is not None:
            intensity = float(rng.uniform(*settings.intensity_range))
        else:
            intensity = settings.intensity
        steps.append((concrete, intensity))
    return steps


def describe(steps: list[tuple[str, float]]) -> str:
    """``blur:0.50 > noise:0.31``."""
    return " > ".join(f"{name}:{intensity:.2f}" for name, intensity in steps)


@dataclass(frozen=True)
class Result:
    """What happened to one image: a summary line, or the reason it failed."""

    message: str
    error: str | None = None


def run_job(job: Job) -> Result:
    """Degrade one image and write its outputs (nothing is written in a dry run)."""
    settings = job.settings
    try:
        if settings.dry_run:
            with Image.open(job.source) as opened:
                size = opened.size
            image = None
        else:
            image = load_rgb(job.source)
            size = image.size
    except IMAGE_ERRORS as exc:
        return Result("", f"cannot read image: {exc}")
    parts = []
    target_bytes: bytes | None = None
    for output in job.outputs:
        steps = choose_steps(job, output)
        parts.append(f"{output.path.name} ({describe(steps)})")
        if image is None:
            continue
        rng = rng_for(settings.seed, job.item, output.recipe.label, output.variant, "pixels")
        degraded = image
        for name, intensity in steps:
            degraded = degradations.apply(degraded, name, intensity, rng)
        try:
            write(output.path, encode(degraded, settings.output_format))
            if output.target is not None:
                if target_bytes is None:
                    target_bytes = encode(image, settings.output_format)
                write(output.target, target_bytes)
        except WriteError as exc:
            # A full disk or a read-only subfolder fails this image, not the whole batch.
            return Result("", str(exc))
    if image is not None and settings.captions:
        written = [p for out in job.outputs for p in (out.path, out.target) if p is not None]
        try:
            carry_caption(job.source, written)
        except OSError as exc:
            return Result("", f"cannot write its caption: {exc.strerror or exc}")
    prefix = "would write " if settings.dry_run else ""
    return Result(f"{job.item} {size[0]}x{size[1]} -> {prefix}" + ", ".join(parts))


class WriteError(Exception):
    """An output could not be written; the message names it and says why."""


def write(path: Path, data: bytes) -> None:
    """Write one output atomically, creating its folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data, fsync=False)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from exc


def run_jobs(jobs: Sequence[Job], workers: int) -> Iterator[tuple[Job, Result]]:
    """Run ``jobs`` on ``workers`` processes (0 = every core), results in input order."""
    # No more processes than images: a single image never pays for a pool of idle workers.
    return imap(run_job, jobs, max(1, min(worker_count(workers), len(jobs))))
