"""Where a caption written through the server goes: the dataset's own convention.

* Audio in a dataset with a root ``metadata.csv``: its row there (LJSpeech/Piper keep
  transcripts nowhere else; a ``wavs/x.txt`` would be a stray file no trainer reads).
* A file whose group already has a caption file: that file, wherever it is (its own sidecar,
  the group's ``base.txt``, or ``target/base.txt`` of a ``control/`` + ``target/`` pair).
* A new caption of a folder-style pair follows the other groups: beside the target
  (``target/base.txt``) when captions live in the target folder, else at the group's folder
  (``base.txt``) when they live there, else beside the file written to.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from datasety.core import layout
from datasety.core.errors import NotFoundError
from datasety.server.files import fsroot
from datasety.server.files.fsroot import DatasetRoot

METADATA = layout.METADATA_CSV
# Folders whose files are a pair's target, in the order a new caption prefers them.
_TARGET_FOLDERS = tuple(name for name, role in layout.ROLE_FOLDERS.items() if role == "target")


def destination(root: DatasetRoot, rel: str) -> str:
    """The caption file for ``rel`` (a dataset path), or :data:`METADATA` for its
    ``metadata.csv`` row."""
    if layout.file_kind(rel) == "audio" and root.is_file(METADATA):
        return METADATA
    own = layout.sidecar_path(rel)
    for candidate in _existing_candidates(rel):
        if root.is_file(candidate):
            return candidate
    folder, name = posixpath.split(rel)
    if not _folder_role(rel):
        return own
    group_dir = posixpath.dirname(folder)
    base = posixpath.splitext(name)[0]
    for target in _TARGET_FOLDERS:
        target_dir = posixpath.join(group_dir, _real_case(root, group_dir, target) or target)
        if _has_captions(root, target_dir):
            return posixpath.join(target_dir, base + layout.CAPTION_EXTENSION)
    if _has_captions(root, group_dir):
        return posixpath.join(group_dir, base + layout.CAPTION_EXTENSION)
    return own


def _folder_role(rel: str) -> bool:
    """True for an image whose role comes from its folder (``control/x.png``)."""
    where = layout.placement(rel)
    return where.role is not None and where.group_dir != posixpath.dirname(rel)


def _existing_candidates(rel: str) -> Iterator[str]:
    yield from layout.caption_candidates(rel)
    if _folder_role(rel):
        folder, name = posixpath.split(rel)
        group_dir = posixpath.dirname(folder)
        base = posixpath.splitext(name)[0] + layout.CAPTION_EXTENSION
        for role_folder in layout.ROLE_FOLDERS:
            yield posixpath.join(group_dir, role_folder, base)


def _names(root: DatasetRoot, folder: str) -> list[str]:
    try:
        with root.walk(posixpath.join(folder, "x")) as slot:
            return fsroot.list_names(slot.fd)
    except (NotFoundError, OSError):
        return []


def _real_case(root: DatasetRoot, parent: str, wanted: str) -> str | None:
    """The name of the folder ``wanted`` in ``parent`` as spelled on disk (``Target``)."""
    return next((n for n in _names(root, parent) if n.lower() == wanted), None)


def _has_captions(root: DatasetRoot, folder: str) -> bool:
    return any(layout.file_kind(name) == "caption" for name in _names(root, folder))
