"""Which mask file each image gets: ``--naming folder`` or ``suffix``.

The names are the dataset conventions the server pairs with ``?group=true``:

* ``folder``: ``mask/NAME.png`` in a ``mask`` folder beside the image (``sub/photo.jpg`` ->
  ``sub/mask/photo.png``); with ``--output``, ``OUTPUT/sub/photo.png`` instead (name the
  output folder ``mask`` inside the dataset to keep the pairing);
* ``suffix``: ``NAME_mask.png`` beside the image.

Images that are themselves masks (in a ``mask`` folder, or named ``*_mask``) are never input:
a second run over the same folder must not mask the masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasety.core.errors import DatasetyError
from datasety.core.inputs import find_images
from datasety.core.layout import placement

MASK_FOLDER = "mask"
MASK_SUFFIX = "_mask"


@dataclass(frozen=True)
class MaskTarget:
    """One image and the mask file written for it."""

    image: Path
    mask: Path
    name: str  # how progress lines name the image: its path relative to the input


def mask_path(image: Path, naming: str, extension: str, output_dir: Path | None = None) -> Path:
    """The mask file for ``image`` (``output_dir`` replaces the ``mask`` folder)."""
    if naming == "suffix":
        return image.with_name(f"{image.stem}{MASK_SUFFIX}.{extension}")
    folder = output_dir if output_dir is not None else image.parent / MASK_FOLDER
    return folder / f"{image.stem}.{extension}"


def is_mask(relative: str) -> bool:
    """True for an image that is a mask by the dataset conventions."""
    return placement(relative).role == "mask"


def directory_targets(
    input_dir: Path,
    naming: str,
    extension: str,
    output_dir: Path | None = None,
    recursive: bool = False,
) -> list[MaskTarget]:
    """A target per image under ``input_dir`` that is not itself a mask, sorted."""
    targets = []
    for image in find_images(input_dir, recursive):
        relative = image.relative_to(input_dir)
        if is_mask(relative.as_posix()):
            continue
        folder = output_dir / relative.parent if output_dir is not None else None
        target = mask_path(image, naming, extension, folder)
        targets.append(MaskTarget(image, target, relative.as_posix()))
    return targets


def single_target(image: Path, output: Path | None, naming: str, extension: str) -> MaskTarget:
    """``--input-image`` (and ``--output-image``, else the naming convention beside it)."""
    if not image.is_file():
        raise DatasetyError(f"--input-image {str(image)!r} does not exist or is not a file")
    return MaskTarget(image, output or mask_path(image, naming, extension), image.name)
