"""The files an edit model trains on: control (the source), target (the edit), caption.

``synthetic --output OUT`` writes, for a source ``sub/NAME.jpg``:

* ``OUT/sub/control/NAME.jpg``: the source, copied byte for byte;
* ``OUT/sub/target/NAME.png``: the edited image (``--output-format``);
* ``OUT/sub/NAME.txt``: the instruction (``--prompt``), the pair's caption.

These are the dataset conventions the server's ``?group=true`` pairs with no renaming (a
``control/`` file is the pair's input, ``target/`` its target, ``NAME.txt`` its caption).
With ``--num-images N`` above 1 each variant is its own pair: ``target/NAME_k.png``,
``control/NAME_k.jpg`` (a hard link to one copy where the file system allows) and
``NAME_k.txt``, for k = 1..N.

Single-image mode (``--input-image``) writes just the edited image: ``--output-image``, by
default ``NAME_target.png`` beside the source (``NAME_target_k.png`` for several).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasety.core.atomic import atomic_path, atomic_write_text
from datasety.core.errors import DatasetyError
from datasety.core.inputs import find_images
from datasety.core.layout import placement

CONTROL_FOLDER = "control"
TARGET_FOLDER = "target"

SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "png": {"format": "PNG"},
    "jpg": {"format": "JPEG", "quality": 95},
    "webp": {"format": "WEBP", "quality": 95},
}


@dataclass(frozen=True)
class Pair:
    """One output: the edited image, and (for a dataset) its control copy and caption."""

    target: Path
    control: Path | None = None
    caption: Path | None = None


@dataclass(frozen=True)
class EditTarget:
    """A source image and the ``--num-images`` pairs made from it."""

    source: Path
    name: str  # how progress lines name the source: its path relative to the input
    pairs: tuple[Pair, ...]

    def done(self) -> bool:
        """Every output exists (``--skip-existing`` leaves the source alone)."""
        return all(pair.target.exists() for pair in self.pairs)


def dataset_pairs(source: Path, folder: Path, num_images: int, extension: str) -> tuple[Pair, ...]:
    """The pairs for ``source`` in the output ``folder`` (its subfolder kept)."""
    names = [source.stem]
    if num_images > 1:
        names = [f"{source.stem}_{k}" for k in range(1, num_images + 1)]
    return tuple(
        Pair(
            target=folder / TARGET_FOLDER / f"{name}.{extension}",
            control=folder / CONTROL_FOLDER / f"{name}{source.suffix}",
            caption=folder / f"{name}.txt",
        )
        for name in names
    )


def directory_targets(
    input_dir: Path, output_dir: Path, num_images: int, extension: str, recursive: bool
) -> list[EditTarget]:
    """A target per image under ``input_dir``; images already in a role folder (``control/``,
    ``target/``, ...) are outputs of an earlier run, never sources."""
    targets = []
    claimed: dict[Path, str] = {}
    for image in find_images(input_dir, recursive):
        relative = image.relative_to(input_dir)
        if placement(relative.as_posix()).role is not None:
            continue
        pairs = dataset_pairs(image, output_dir / relative.parent, num_images, extension)
        name = relative.as_posix()
        for pair in pairs:
            if pair.target in claimed:
                raise DatasetyError(
                    f"{claimed[pair.target]} and {name} would both write {pair.target}; "
                    "rename one of them"
                )
            claimed[pair.target] = name
        targets.append(EditTarget(image, name, pairs))
    return targets


def single_target(
    source: Path, output_image: Path | None, num_images: int, extension: str
) -> EditTarget:
    """The target for ``--input-image`` (``--output-image`` or ``NAME_target.EXT`` beside it)."""
    if not source.is_file():
        raise DatasetyError(f"--input-image {str(source)!r} is not a file")
    first = output_image or source.with_name(f"{source.stem}_target.{extension}")
    if num_images == 1:
        return EditTarget(source, source.name, (Pair(first),))
    outputs = (first.with_name(f"{first.stem}_{k}{first.suffix}") for k in range(1, num_images + 1))
    return EditTarget(source, source.name, tuple(Pair(path) for path in outputs))


def save_image(image: Any, path: Path, output_format: str) -> None:
    """Write a PIL image atomically in ``output_format`` (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if output_format == "jpg" and image.mode not in {"RGB", "L"}:
        image = image.convert("RGB")
    with atomic_path(path) as temporary:
        image.save(temporary, **SAVE_OPTIONS[output_format])


def write_pairs(target: EditTarget, images: Sequence[Any], prompt: str, output_format: str) -> None:
    """Write each pair of ``target``: the edit, then the control copy and the caption, so a
    pair whose target exists is complete (``--skip-existing`` trusts the target)."""
    first_control: Path | None = None
    for pair, image in zip(target.pairs, images, strict=True):
        if pair.control is not None:
            copy_control(target.source, pair.control, first_control)
            first_control = first_control or pair.control
        if pair.caption is not None:
            atomic_write_text(pair.caption, prompt, fsync=False)
        save_image(image, pair.target, output_format)


def copy_control(source: Path, control: Path, linked_to: Path | None) -> None:
    """``control`` as a copy of ``source`` (a hard link to ``linked_to`` when one exists)."""
    control.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(control) as temporary:
        if linked_to is not None:
            try:
                os.link(linked_to, temporary)
                return
            except OSError:
                pass  # another file system, or links not allowed: copy instead
        shutil.copyfile(source, temporary)
