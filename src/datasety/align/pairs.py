"""`align` as plain functions: make control/target pairs the same size, a multiple of N.

Pairs are matched by base name: ``target/photo.jpg`` pairs with ``control/photo.png``; with
``recursive`` the relative folder is part of the name (``target/a/x.png`` pairs with
``control/a/x.jpg``, not with ``control/b/x.jpg``).

The size rule, for a pair of sizes ``(tw, th)`` and ``(cw, ch)``:

1. the common size ``C`` is the smaller of the two in each dimension, ``(min(tw, cw),
   min(th, ch))``; the final size ``F`` is ``C`` floored to a multiple of N in each dimension;
2. an image larger than ``C`` is first scaled down (Lanczos, keeping its aspect ratio) just
   enough to cover ``C``, so a 2x control of the same framing lines up with its target;
   an image is never scaled up;
3. both images are then centre-cropped to ``F``. Two images of equal size therefore get the
   very same crop, pixel for pixel, and no resampling at all.

This departs from the reference tool, which cropped the target but squashed the control to
the target's size, shifting content by up to half the crop between the two.

Files are edited in place, atomically. With an output format, the converted file is written
first and the old one removed only after both images of the pair are in place; ``.jpeg``
already counts as jpg (no pointless re-encode). A pair that is already aligned (and in the
requested format) is left untouched, byte for byte.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from datasety.core.atomic import atomic_write_bytes
from datasety.core.inputs import OUTPUT_FORMATS, find_images

SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 95},
    "WEBP": {"quality": 95},
    "PNG": {},
}
IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Pair:
    """A target image and its control, matched by ``key`` (relative path without suffix)."""

    key: str
    target: Path
    control: Path


@dataclass(frozen=True)
class Unmatched:
    """A file that cannot be aligned before the user acts, and why (``failed``: a conflict)."""

    item: str
    reason: str
    failed: bool = False


def _index(root: Path, recursive: bool) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in find_images(root, recursive=recursive):
        key = path.relative_to(root).with_suffix("").as_posix()
        found.setdefault(key, []).append(path)
    return found


def match_pairs(
    target_root: Path, control_root: Path, recursive: bool
) -> tuple[list[Pair], list[Unmatched]]:
    """Pairs by base name, and the files without a partner (or with an ambiguous name)."""
    targets = _index(target_root, recursive)
    controls = _index(control_root, recursive)
    pairs: list[Pair] = []
    unmatched: list[Unmatched] = []
    for key in sorted(targets.keys() | controls.keys()):
        in_target, in_control = targets.get(key, []), controls.get(key, [])
        for label, files, root in (
            ("target", in_target, target_root),
            ("control", in_control, control_root),
        ):
            if len(files) > 1:
                names = ", ".join(p.relative_to(root).as_posix() for p in files)
                unmatched.append(
                    Unmatched(key, f"several {label} files share the name: {names}", True)
                )
        if len(in_target) > 1 or len(in_control) > 1:
            continue
        if not in_control:
            name = in_target[0].relative_to(target_root).as_posix()
            unmatched.append(Unmatched(name, f"target has no control image in {control_root}"))
        elif not in_target:
            name = in_control[0].relative_to(control_root).as_posix()
            unmatched.append(Unmatched(name, f"control has no target image in {target_root}"))
        else:
            pairs.append(Pair(key, in_target[0], in_control[0]))
    return pairs, unmatched


def aligned_size(
    target: tuple[int, int], control: tuple[int, int], multiple: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(common, final)`` sizes of a pair (see the module docstring); final may be 0 wide."""
    common = (min(target[0], control[0]), min(target[1], control[1]))
    final = (common[0] // multiple * multiple, common[1] // multiple * multiple)
    return common, final


def fit(image: Image.Image, common: tuple[int, int], final: tuple[int, int]) -> Image.Image:
    """Scale ``image`` down to just cover ``common`` (if larger), then centre-crop to ``final``."""
    width, height = image.size
    scale = max(common[0] / width, common[1] / height)
    if scale < 1.0:
        size = (max(common[0], round(width * scale)), max(common[1], round(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        width, height = size
    left, top = (width - final[0]) // 2, (height - final[1]) // 2
    return image.crop((left, top, left + final[0], top + final[1]))


def pillow_format(path: Path) -> str | None:
    """The Pillow format a file's suffix names (``.jpeg`` and ``.jpg`` -> ``JPEG``)."""
    entry = OUTPUT_FORMATS.get(path.suffix.lower().lstrip("."))
    return entry[1] if entry else None


@dataclass(frozen=True)
class Side:
    """One image of a pair as found on disk."""

    path: Path
    size: tuple[int, int]  # upright (EXIF orientation applied)
    rotated: bool  # stored sideways or mirrored (an EXIF orientation other than 1)
    file_format: str  # Pillow's name for what the file really is


def read_side(path: Path) -> Side:
    """Size, orientation and format from the file's header (no pixel decoding)."""
    with Image.open(path) as image:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
        size = image.size
        if orientation in (5, 6, 7, 8):
            size = (size[1], size[0])
        return Side(path, size, orientation not in (1, None), image.format or "")


@dataclass(frozen=True)
class Change:
    """What aligning does to one side: its new path and whether pixels or format change."""

    side: Side
    new_path: Path
    reshape: bool
    convert: bool

    @property
    def needed(self) -> bool:
        return self.reshape or self.convert


def plan_side(side: Side, final: tuple[int, int], output_format: str) -> Change:
    """The change one side needs to reach ``final`` size in ``output_format`` (``""`` = keep)."""
    reshape = side.size != final or side.rotated
    new_path = side.path
    convert = False
    if output_format:
        wanted_suffix, wanted_format = OUTPUT_FORMATS[output_format]
        if pillow_format(side.path) != wanted_format or side.file_format != wanted_format:
            new_path = side.path.with_suffix(wanted_suffix)
            convert = True
    return Change(side, new_path, reshape, convert)


def describe(label: str, change: Change, final: tuple[int, int]) -> list[str]:
    """Human-readable parts for one side: ``target 100x70 -> 96x64``, ``control -> .png``."""
    parts = []
    if change.reshape:
        parts.append(
            f"{label} {change.side.size[0]}x{change.side.size[1]} -> {final[0]}x{final[1]}"
        )
    if change.new_path != change.side.path:
        parts.append(f"{label} {change.side.path.suffix} -> {change.new_path.suffix}")
    elif change.convert:
        parts.append(f"{label} re-encoded as {change.new_path.suffix}")
    return parts


def render(change: Change, common: tuple[int, int], final: tuple[int, int]) -> bytes:
    """The new file's bytes: upright, fitted to ``final``, encoded for its new suffix."""
    with Image.open(change.side.path) as opened:
        icc = opened.info.get("icc_profile")
        image = ImageOps.exif_transpose(opened)
    if image.mode not in ("L", "RGB", "RGBA"):
        has_alpha = "A" in image.mode or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    if image.size != final:
        image = fit(image, common, final)
    target_format = pillow_format(change.new_path) or change.side.file_format
    if target_format == "JPEG" and image.mode == "RGBA":
        # JPEG has no alpha: flatten over white rather than exposing hidden colours.
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image).convert("RGB")
    options = dict(SAVE_OPTIONS.get(target_format, {}))
    if icc:
        options["icc_profile"] = icc
    buffer = io.BytesIO()
    image.save(buffer, format=target_format, **options)
    return buffer.getvalue()


@dataclass(frozen=True)
class Outcome:
    """The result for one pair: ``status`` is processed, skipped or failed."""

    status: str
    message: str


def align_pair(pair: Pair, multiple: int, output_format: str, dry_run: bool) -> Outcome:
    """Align one pair in place (or, with ``dry_run``, only say what would change)."""
    try:
        target, control = read_side(pair.target), read_side(pair.control)
    except IMAGE_ERRORS as exc:
        return Outcome("failed", f"cannot read image: {exc}")
    common, final = aligned_size(target.size, control.size, multiple)
    if final[0] == 0 or final[1] == 0:
        return Outcome(
            "skipped",
            f"{common[0]}x{common[1]} is smaller than a multiple of {multiple}",
        )
    changes = {
        "target": plan_side(target, final, output_format),
        "control": plan_side(control, final, output_format),
    }
    if not any(change.needed for change in changes.values()):
        return Outcome("skipped", f"already aligned at {final[0]}x{final[1]}")
    parts = [part for label, c in changes.items() for part in describe(label, c, final)]
    message = f"{pair.key}: " + ", ".join(parts)
    if dry_run:
        return Outcome("processed", f"{message} (dry run)")
    try:
        # Render both before writing either, so a bad file leaves the pair untouched.
        rendered = [(c, render(c, common, final)) for c in changes.values() if c.needed]
    except IMAGE_ERRORS as exc:
        return Outcome("failed", f"cannot read image: {exc}")
    for change, data in rendered:
        atomic_write_bytes(change.new_path, data)
    # Old files go only once every new one is in place.
    for change, _ in rendered:
        if change.new_path != change.side.path:
            change.side.path.unlink()
    return Outcome("processed", message)
