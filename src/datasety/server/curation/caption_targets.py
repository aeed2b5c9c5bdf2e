"""Caption texts by *target*: a caption file's dataset path (``a.txt``) or an audio file's
``metadata.csv`` row (``metadata.csv#<row id>``), read and written many at a time.

A bulk edit of 5,000 captions writes 5,000 files: each goes to a temporary file beside it and
is renamed into place, so a reader never sees half a caption; the file system is flushed once
at the end (``syncfs``), before the answer says the captions are written, not with an
``fsync`` per file: on this project's ext4 box, 5,000 fsyncs take 10-20 s against well under
one. The files renamed over are freed after the answer (:mod:`inode_release`). ext4 (the
default ``auto_da_alloc``) writes a file renamed over another before the rename commits, so a
crash leaves each caption old or new; a file system without that guarantee (XFS) could leave
an empty caption after a crash mid-operation, which the operation's history still restores.
The ``metadata.csv`` rows of one call are one rewrite of that file, under the dataset's lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import posixpath
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from datasety.core import layout
from datasety.core.errors import NotFoundError
from datasety.server.catalog.listing import CAPTION_READ_LIMIT
from datasety.server.curation import caption_home, inode_release
from datasety.server.files import fsroot, leftovers
from datasety.server.files.fsroot import DatasetRoot, Slot

ROW_PREFIX = layout.METADATA_CSV + "#"
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
FILE_THREADS = 8
T = TypeVar("T")
R = TypeVar("R")


def row_target(audio_rel: str) -> str:
    """The target of ``audio_rel``'s ``metadata.csv`` row."""
    return ROW_PREFIX + layout.metadata_id(audio_rel)


def is_row(target: str) -> bool:
    return target.startswith(ROW_PREFIX)


def target_for(root: DatasetRoot, media_rel: str) -> str:
    """Where the caption of ``media_rel`` lives, or would go (the dataset's convention)."""
    home = caption_home.destination(root, media_rel)
    return row_target(media_rel) if home == caption_home.METADATA else home


def read_many(root: DatasetRoot, targets: list[str]) -> dict[str, str | None]:
    """The current text of each target (None: no such file or row)."""
    rows = metadata_rows(root) if any(is_row(t) for t in targets) else {}
    texts: dict[str, str | None] = {}
    files: list[str] = []
    for target in targets:
        if is_row(target):
            texts[target] = rows.get(target[len(ROW_PREFIX) :])
        else:
            files.append(target)
    for folder, names in _by_folder(files).items():
        try:
            slot = _folder(root, folder, create=False)
        except NotFoundError:
            texts.update((posixpath.join(folder, name), None) for name in names)
            continue
        with slot:
            for name in names:
                texts[posixpath.join(folder, name)] = _read(root, slot.fd, folder, name)
    return texts


def metadata_rows(root: DatasetRoot) -> dict[str, str]:
    """``{row id: text}`` of the dataset's ``metadata.csv`` ({} without one)."""
    try:
        raw = root.read(layout.METADATA_CSV)
    except NotFoundError:
        return {}
    return layout.parse_metadata(raw.decode("utf-8", "replace"))


def _by_folder(paths: Iterable[str]) -> dict[str, list[str]]:
    folders: dict[str, list[str]] = {}
    for path in paths:
        folder, name = posixpath.split(path)
        folders.setdefault(folder, []).append(name)
    return folders


def _folder(root: DatasetRoot, folder: str, create: bool) -> Slot:
    """``folder`` of the dataset, open (walked once for all its files; made with
    ``create``). Its descriptor is the slot's ``fd``."""
    return root.walk(posixpath.join(folder, "_"), follow_last=False, create=create)


def _read(root: DatasetRoot, folder_fd: int, folder: str, name: str) -> str | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=folder_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        try:  # a symlink: followed by the walk, inside the dataset only
            raw = root.read(posixpath.join(folder, name), CAPTION_READ_LIMIT)
        except NotFoundError:
            return None
        return raw.decode("utf-8", "replace")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None  # a folder (or a FIFO) where a caption would be: no caption
    with open(fd, "rb") as handle:
        os.set_blocking(fd, True)
        return handle.read(CAPTION_READ_LIMIT).decode("utf-8", "replace")


def write_many(root: DatasetRoot, texts: Mapping[str, str | None], lock: threading.Lock) -> None:
    """Set each target to its text (None: remove the file or row), each file atomically."""
    rows = {t[len(ROW_PREFIX) :]: text for t, text in texts.items() if is_row(t)}
    sidecars = {t: text for t, text in texts.items() if not is_row(t)}
    wrote = False
    replaced: list[int] = []
    try:
        with ThreadPoolExecutor(FILE_THREADS) as pool:
            for folder, names in _by_folder(sidecars).items():
                writes = {n: sidecars[posixpath.join(folder, n)] for n in names}
                create = any(t is not None for t in writes.values())
                with _folder(root, folder, create=create) as slot:
                    wrote = _write_folder(pool, slot.fd, writes, replaced) or wrote
        if wrote:
            _sync(root.fd)  # all on disk before the caller says they are written
    finally:
        inode_release.later(replaced)
    if rows:
        _write_rows(root, rows, lock)


def _write_folder(
    pool: ThreadPoolExecutor, folder_fd: int, texts: dict[str, str | None], replaced: list[int]
) -> bool:
    """Stage every new text of one folder, then rename each into place (names whose text is
    None are removed); nothing is renamed unless all staged. Whether anything was written.

    Threads, because a rename that frees the file it replaces can wait for the disk (on this
    project's box a synchronous discard: 2-3 ms a file one at a time, 0.3 ms eight at a time);
    the replaced files are normally held and freed after the answer (``inode_release``), but
    past its budget the rename frees them itself. Each thread takes a share of the names (a
    future per file costs more than its rename)."""
    writes = [(name, text) for name, text in texts.items() if text is not None]
    staged = _in_shares(pool, lambda item: _try(_stage, folder_fd, *item), writes)
    temps = [(tmp, name) for (name, _), (tmp, _) in zip(writes, staged, strict=True) if tmp]
    renamed: list[tuple[str | None, BaseException | None]] = []
    try:
        _raise_first(staged)
        # The name itself is replaced (never a symlink's target).
        renamed = _in_shares(pool, lambda pair: _try(_rename, folder_fd, *pair, replaced), temps)
        _raise_first(renamed)
    finally:
        done = {name for name, error in renamed if name is not None and error is None}
        for tmp, name in temps:
            if name not in done:
                fsroot.remove_quietly(folder_fd, tmp)
    for name, text in texts.items():
        if text is None:
            old = inode_release.open_old(folder_fd, name)
            if old is not None:
                replaced.append(old)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder_fd)
    return bool(temps)


def _in_shares(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: list[T]) -> list[R]:
    """``[fn(item) for item in items]``, each of the pool's threads doing one contiguous share."""
    size = max(1, -(-len(items) // FILE_THREADS))
    shares = [items[start : start + size] for start in range(0, len(items), size)]
    results = pool.map(lambda share: [fn(item) for item in share], shares)
    return [result for share in results for result in share]


def _rename(folder_fd: int, tmp: str, name: str, replaced: list[int]) -> str:
    # The old file is kept open and freed after the answer (see inode_release).
    old = inode_release.open_old(folder_fd, name)
    if old is not None:
        replaced.append(old)
    os.replace(tmp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    return name


def _try(fn: Callable[..., str], *args: Any) -> tuple[str | None, BaseException | None]:
    """``fn(*args)`` and None, or None and the OSError it raised (raised later, once every
    thread's work is known, so that no temporary file is left behind)."""
    try:
        return fn(*args), None
    except OSError as exc:
        return None, exc


def _raise_first(results: list[tuple[str | None, BaseException | None]]) -> None:
    for _, error in results:
        if error is not None:
            raise error


def _stage(folder_fd: int, name: str, text: str) -> str:
    """A hidden temporary file holding ``text`` beside ``name``; its name."""
    tmp = leftovers.temp_name(name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666, dir_fd=folder_fd)
    try:
        leftovers.hold(fd)
        fsroot.write_all(fd, text.encode("utf-8"))
    except BaseException:
        os.close(fd)
        fsroot.remove_quietly(folder_fd, tmp)
        raise
    os.close(fd)
    return tmp


def _sync(root_fd: int) -> None:
    """Flush the file system of ``root_fd`` (syncfs: one call for every staged file); where
    there is no syncfs, every file system (sync)."""
    syncfs = getattr(_libc(), "syncfs", None)
    if syncfs is not None:
        # The dataset's descriptor may be O_PATH, which syncfs refuses: open it for reading.
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root_fd)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _write_rows(root: DatasetRoot, rows: Mapping[str, str | None], lock: threading.Lock) -> None:
    with lock:
        try:
            raw = root.read(layout.METADATA_CSV)
            content = raw.decode("utf-8", "surrogateescape")
        except NotFoundError:
            content = ""
        for row_id, text in rows.items():
            if text is None:
                content = layout.remove_metadata_row(content, row_id) or content
            else:
                content = layout.set_metadata_row(content, row_id, text)
        with root.walk(layout.METADATA_CSV, create=True) as slot:
            fsroot.write_atomic(slot, content.encode("utf-8", "surrogateescape"))
