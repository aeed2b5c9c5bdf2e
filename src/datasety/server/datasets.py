"""Registering dataset folders: validation, roots, type detection."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from datasety.core import layout
from datasety.core.errors import AccessDeniedError, DatasetyError, NotFoundError
from datasety.server.files.security import is_within
from datasety.server.settings import Settings
from datasety.server.store import Dataset, Store

PATH_NOT_A_DIR = "Provided path does not exist or is not a directory"
PATH_GONE = "Dataset path no longer exists on disk"
DATA_DIR_OVERLAP = (
    "Access denied: a dataset cannot contain or be inside the server's data directory"
)
TYPE_SAMPLE = 5000


def register(store: Store, settings: Settings, path: str, name: str | None) -> tuple[Dataset, bool]:
    """Register the folder ``path`` (resolved) under ``name`` (default: the folder's name).
    A folder already registered answers its existing dataset; the bool says if it is new."""
    if "\x00" in path:
        raise DatasetyError("Invalid path: contains a NUL byte")
    try:
        folder = Path(path).expanduser().resolve()
        is_dir = folder.is_dir()
    except (OSError, RuntimeError):
        # An unknown ~user, a symlink loop (pathlib's RuntimeError), a name too long.
        is_dir = False
    if not is_dir:
        raise DatasetyError(PATH_NOT_A_DIR)
    check_allowed(folder, settings)
    name = (name or "").strip() or folder.name or str(folder)
    return store.add_dataset(name, str(folder), layout.dataset_type(sample_names(folder)))


@functools.lru_cache(maxsize=64)
def _resolved(path: Path) -> Path:
    """``path`` resolved once: the roots and the data dir are the server's own settings, and
    resolving them again on every file access cost a fifth of a small download's CPU."""
    return path.expanduser().resolve()


def check_allowed(folder: Path, settings: Settings) -> None:
    """403 unless the resolved ``folder`` may be a dataset: under a ``--root`` when roots are
    set, and apart from the server's data directory. Checked again on every file access, as
    a folder can be swapped for a symlink after it was registered."""
    roots = tuple(_resolved(Path(r)) for r in settings.roots)
    if roots and not is_within(folder, roots):
        raise AccessDeniedError("Access denied: path is outside the allowed roots")
    # The data dir holds the job queue (argv included) and the logs: writing there through
    # the files API would turn file access into running any command. `/` contains it too.
    data_dir = _resolved(settings.data_dir)
    if is_within(folder, (data_dir,)) or is_within(data_dir, (folder,)):
        raise AccessDeniedError(DATA_DIR_OVERLAP)


def root_of(dataset: Dataset) -> Path:
    """The dataset's folder, resolved; 404 if it is gone."""
    try:
        root = Path(dataset.path).resolve()
        gone = not root.is_dir()
    except (OSError, RuntimeError):
        gone = True  # replaced by a symlink loop, or unreadable: as good as gone
    if gone:
        raise NotFoundError(PATH_GONE)
    return root


def sample_names(root: Path, limit: int = TYPE_SAMPLE) -> list[str]:
    """Up to ``limit`` dataset-relative file names, breadth first, hidden entries skipped."""
    names: list[str] = []
    pending = [""]
    while pending and len(names) < limit:
        rel = pending.pop(0)
        try:
            with os.scandir(root / rel) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    child = f"{rel}/{entry.name}" if rel else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(child)
                    elif entry.is_file():
                        names.append(child)
        except OSError:
            continue  # an unreadable subfolder only narrows the sample
    return names[:limit]
