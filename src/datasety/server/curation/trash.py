"""Moving dataset files: into the trash in the data dir (a restorable delete), back out of
it, and to another folder of the dataset. Every dataset path is walked through the dataset's
folder descriptor (never out of it); a destination that exists is never overwritten (409).

The trash of an operation is ``<data dir>/trash/<operation id>/<dataset path>``; it goes when
the operation leaves the history (:mod:`datasety.server.curation.history` retention).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from datasety.core.errors import ConflictError, NotFoundError
from datasety.server.files import fsroot
from datasety.server.files.fsroot import FILE_NOT_FOUND, DatasetRoot

DESTINATION_EXISTS = "Destination already exists: {}"


def trash_dir(data_dir: Path, operation_id: str) -> Path:
    return data_dir / "trash" / operation_id


def to_trash(root: DatasetRoot, rel: str, dest: Path) -> None:
    """Move the dataset file ``rel`` to the absolute ``dest`` (folders made)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with root.walk(rel, follow_last=False) as slot:
        try:
            os.rename(slot.entry, dest, src_dir_fd=slot.fd)
        except FileNotFoundError:
            raise NotFoundError(FILE_NOT_FOUND) from None
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another file system: copy, then remove the original.
            fd = root.open_file(rel)
            with open(fd, "rb") as source, open(dest, "xb") as target:
                shutil.copyfileobj(source, target)
            os.unlink(slot.entry, dir_fd=slot.fd)


def from_trash(root: DatasetRoot, source: Path, rel: str) -> None:
    """Move the trashed ``source`` back to the dataset path ``rel`` (409 if it exists)."""
    with root.walk(rel, create=True) as slot:
        if fsroot.exists(slot):
            raise ConflictError(DESTINATION_EXISTS.format(rel))
        try:
            os.rename(source, slot.entry, dst_dir_fd=slot.fd)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            fd = os.open(slot.entry, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666, dir_fd=slot.fd)
            with open(source, "rb") as handle, open(fd, "wb") as target:
                shutil.copyfileobj(handle, target)
            source.unlink()


def move_within(root: DatasetRoot, rel: str, dest: str) -> None:
    """Move the dataset file ``rel`` to the dataset path ``dest`` (folders made; 409 if
    ``dest`` exists)."""
    with root.walk(rel, follow_last=False) as src, root.walk(dest, create=True) as dst:
        if fsroot.exists(dst):
            raise ConflictError(DESTINATION_EXISTS.format(dest))
        try:
            os.rename(src.entry, dst.entry, src_dir_fd=src.fd, dst_dir_fd=dst.fd)
        except FileNotFoundError:
            raise NotFoundError(FILE_NOT_FOUND) from None


def exists(root: DatasetRoot, rel: str) -> bool:
    """True if something is at the dataset path ``rel``."""
    try:
        with root.walk(rel, follow_last=False) as slot:
            return fsroot.exists(slot)
    except NotFoundError:
        return False


def purge(data_dir: Path, operation_id: str) -> None:
    shutil.rmtree(trash_dir(data_dir, operation_id), ignore_errors=True)
