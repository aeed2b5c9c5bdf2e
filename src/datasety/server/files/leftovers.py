"""Temporary files that a killed server left behind, removed when the next one starts.

Every file the server writes in a dataset (an upload, a caption, ``metadata.csv``) is first a
hidden temporary file beside its target, renamed into place when complete. A server killed
mid-write (``kill -9``, a power cut) leaves that temporary file for ever. So the server's own
temporary files are recognisable and provably abandoned:

* their names carry a tag no other writer uses: ``.NAME.<8 hex>.server.partial.EXT``
  (the command line's own atomic writes, which a running job may be making right now, have
  no tag and are never touched);
* their writer holds an exclusive ``flock`` on them while it writes; the kernel drops it when
  the writer's process ends, however it ends.

At start-up a background thread walks every registered dataset (through folder descriptors,
never following a symlink) and removes each tagged temporary file whose lock it can take: one
that another live server is still writing stays. In the data dir, which only the server
writes, temporary files (thumbnails, cached listings) untouched for :data:`DATA_DIR_STALE`
seconds go too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import threading
import time
from pathlib import Path

from datasety.core import atomic
from datasety.server.store import Store

try:
    import fcntl
except ImportError:  # Windows: no flock; dataset leftovers are then kept (never a live one)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("datasety.server")

SERVER_TAG = ".server"
_SERVER_TEMP = re.compile(
    r"^\..*\.[0-9a-f]{8}" + re.escape(SERVER_TAG + atomic.TEMP_MARKER) + r"(\.[^.]*)?$", re.S
)
# A thumbnail or listing body is written in seconds: one this old was abandoned.
DATA_DIR_STALE = 600.0
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def temp_name(name: str) -> str:
    """A fresh server temporary name beside the file ``name`` (see the module docstring)."""
    return atomic.temp_path_for(Path(name), tag=SERVER_TAG).name


def hold(fd: int) -> None:
    """Mark the temporary file open at ``fd`` as being written (until ``fd`` is closed)."""
    if fcntl is not None:
        # A file system without locks (some network mounts) only loses this protection.
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def is_server_temp(name: str) -> bool:
    return _SERVER_TEMP.match(name) is not None


def _abandoned(folder: int, name: str) -> bool:
    """True if nobody holds the lock on ``folder/name`` (checked without following links)."""
    if fcntl is None:
        return False
    try:
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(name, flags, dir_fd=folder)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live writer holds it
    finally:
        os.close(fd)
    return True


def sweep_dataset(root: Path) -> int:
    """Remove the abandoned server temporary files under ``root``; how many went."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        return 0  # gone, unreadable, or now a symlink: nothing of ours to clean there
    return _sweep_tree(fd)


def _sweep_tree(folder: int) -> int:
    removed = 0
    try:
        with os.scandir(folder) as entries:
            names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for name, is_dir in names:
            if is_dir:
                with contextlib.suppress(OSError):  # gone, or swapped for a link: skip it
                    removed += _sweep_tree(os.open(name, _DIR_FLAGS, dir_fd=folder))
            elif is_server_temp(name) and _abandoned(folder, name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=folder)
                    removed += 1
    except OSError as exc:
        log.warning("leftover sweep skipped a folder: %s", exc)
    finally:
        os.close(folder)
    return removed


def sweep_data_dir(data_dir: Path, older_than: float = DATA_DIR_STALE) -> int:
    """Remove temporary files in the data dir untouched for ``older_than`` seconds."""
    removed = 0
    cutoff = time.time() - older_than
    for folder, _, names in os.walk(data_dir):
        for name in names:
            if not atomic.is_temp_name(name):
                continue
            path = Path(folder, name)
            with contextlib.suppress(FileNotFoundError):
                st = path.lstat()
                if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                    path.unlink()
                    removed += 1
    return removed


def sweep(store: Store, data_dir: Path) -> int:
    """Every registered dataset, then the data dir; how many files went (logged)."""
    removed = sum(sweep_dataset(Path(dataset.path)) for dataset in store.list_datasets())
    removed += sweep_data_dir(data_dir)
    if removed:
        log.warning("removed %d temporary file(s) left by an interrupted write", removed)
    return removed


def start_sweep(store: Store, data_dir: Path) -> threading.Thread:
    """Run :func:`sweep` in a background thread (a big dataset takes a while to walk)."""

    def run() -> None:
        try:
            sweep(store, data_dir)
        except Exception:  # the server runs on; the next start tries again
            log.exception("leftover sweep failed")

    thread = threading.Thread(target=run, name="datasety-leftovers", daemon=True)
    thread.start()
    return thread
