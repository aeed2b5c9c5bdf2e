"""What ``--action`` does to an image and the files that travel with it.

* ``move`` / ``copy``: matching images go to ``--output`` (flat, or under their relative
  path with ``--preserve-structure``);
* ``delete``: matching images are deleted;
* ``keep``: matching images stay; the others are moved to ``--output``, or deleted without it.

An image's companions (its ``.txt`` caption and the reference's ``.caption`` / ``.json``
sidecars) always share its fate: a dataset never keeps a caption whose image left, nor loses
one whose image stayed. Nothing is overwritten: a name already taken in ``--output`` fails
that image and leaves it where it was.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

COMPANION_EXTENSIONS = (".txt", ".caption", ".json")


@dataclass(frozen=True)
class FilterItem:
    """One image: its path, its name relative to ``--input`` (for output paths and logs)."""

    image: Path
    name: str


def companions(image: Path) -> list[Path]:
    """Files that belong to ``image`` and go where it goes."""
    return [
        path
        for extension in COMPANION_EXTENSIONS
        if (path := image.with_suffix(extension)).is_file()
    ]


def operation(action: str, matched: bool, output: Path | None) -> str | None:
    """``"move"``, ``"copy"``, ``"delete"`` or None (the image stays) for one decision."""
    if action == "keep":
        if matched:
            return None
        return "move" if output is not None else "delete"
    return action if matched else None


def destination(item: FilterItem, output: Path, preserve_structure: bool) -> Path:
    return output / (item.name if preserve_structure else Path(item.name).name)


def apply(operation_name: str, item: FilterItem, output: Path | None, preserve: bool) -> str:
    """Do ``operation_name`` to the image and its companions; a one-phrase account of it.

    Raises OSError (nothing of the image moved) when a destination exists or the disk refuses.
    """
    files = [item.image, *companions(item.image)]
    if operation_name == "delete":
        for path in files:
            path.unlink()
        return "deleted"
    assert output is not None
    target = destination(item, output, preserve)
    moves = [(path, target.with_suffix(path.suffix)) for path in files]
    for _, dest in moves:
        if os.path.lexists(dest):
            raise FileExistsError(f"{dest} exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    for source, dest in moves:
        if operation_name == "move":
            shutil.move(source, dest)
        else:
            shutil.copy2(source, dest)
    return f"{'moved' if operation_name == 'move' else 'copied'} to {target}"
