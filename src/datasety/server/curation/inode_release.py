"""The old files that a bulk caption write renames over, freed in the background after the
answer instead of inside the request.

A caption is replaced by renaming a new file over it, which frees the old file's inode and
block when its last reference goes. On this project's dev box (ext4 without a journal, mounted
``discard``) that free waits for a synchronous discard of the block: 2-3 ms a file under load,
10-14 s for 5,000 captions one after another, 1-2.5 s eight at a time plus a slower ``syncfs``.
A descriptor (``O_PATH``) of the old file, opened before the rename, keeps its inode alive; once
the new captions are on disk the request answers and a small pool closes the descriptors, where
the kernel frees the inodes. On a journaled file system freeing is cheap and this only delays it.

At most :func:`budget` descriptors are held at once (half the soft limit of open files): past
it, the rename frees the old file itself, as before. A held file is already unlinked, so
nothing is visible; a crash leaves at most unreferenced inodes that the file system reclaims
(orphan list or fsck), and a stopping server closes what it holds before it exits.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_CAP = 50_000
_THREADS = 8  # frees wait for the disk, not the CPU: several overlap
_CHUNK = 256
_O_PATH = getattr(os, "O_PATH", None)  # Linux; elsewhere nothing is held

_lock = threading.Lock()
_held = 0
_pool: ThreadPoolExecutor | None = None


@functools.cache
def budget() -> int:
    """How many descriptors may be held at once."""
    try:
        import resource
    except ImportError:  # not POSIX
        return 0
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _CAP if soft == resource.RLIM_INFINITY else min(_CAP, soft // 2)


def open_old(folder_fd: int, name: str) -> int | None:
    """A descriptor keeping the file ``name`` of ``folder_fd`` (not following a symlink)
    alive, for :func:`later`; None: no such file, the budget is spent, or nothing is held on
    this system."""
    global _held
    if _O_PATH is None:
        return None
    with _lock:
        if _held >= budget():
            return None
        _held += 1
    try:
        return os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder_fd)
    except OSError as exc:
        _forget(1)
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def later(fds: list[int]) -> None:
    """Close ``fds`` (from :func:`open_old`) in the background."""
    global _pool
    if not fds:
        return
    with _lock:
        if _pool is None:
            # Its threads are joined at exit: a stopping server frees what it holds first.
            _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="inode-release")
        pool = _pool
    for start in range(0, len(fds), _CHUNK):
        pool.submit(_close_all, fds[start : start + _CHUNK])


def held() -> int:
    """How many descriptors are held now."""
    with _lock:
        return _held


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):  # EIO on close: the descriptor is gone anyway
            os.close(fd)
    _forget(len(fds))


def _forget(count: int) -> None:
    global _held
    with _lock:
        _held -= count
