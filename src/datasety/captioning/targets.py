"""Which caption file belongs to which image, in directory and single-image mode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasety.core.errors import DatasetyError
from datasety.core.inputs import IMAGE_EXTENSIONS, find_images

CAPTION_SUFFIX = ".txt"


@dataclass(frozen=True)
class CaptionTarget:
    """One image and the caption file written for it."""

    image: Path
    caption: Path
    name: str  # how progress lines name the image: its path relative to the input


def directory_targets(
    input_dir: Path, output_dir: Path | None, recursive: bool = False
) -> list[CaptionTarget]:
    """A target per image under ``input_dir``, sorted.

    Captions go beside the images, or into ``output_dir`` under the same relative path
    (``sub/photo.jpg`` -> ``OUTPUT/sub/photo.txt``).
    """
    targets = []
    for image in find_images(input_dir, recursive=recursive):
        relative = image.relative_to(input_dir)
        base = output_dir if output_dir is not None else input_dir
        caption = (base / relative).with_suffix(CAPTION_SUFFIX)
        targets.append(CaptionTarget(image, caption, relative.as_posix()))
    return targets


def single_target(input_image: Path, output_caption: Path | None) -> CaptionTarget:
    """The target for ``--input-image``: its caption beside it unless ``--output-caption``."""
    if not input_image.is_file():
        raise DatasetyError(f"--input-image {str(input_image)!r} does not exist or is not a file")
    if input_image.suffix.lower() not in IMAGE_EXTENSIONS:
        raise DatasetyError(f"--input-image {str(input_image)!r} is not a known image format")
    caption = output_caption or input_image.with_suffix(CAPTION_SUFFIX)
    if caption.is_dir():
        raise DatasetyError(f"--output-caption {str(caption)!r} is a directory")
    return CaptionTarget(input_image, caption, input_image.name)


def read_caption(path: Path) -> str | None:
    """The caption text in ``path``, or None when there is no caption (missing or blank)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    return text if text.strip() else None
