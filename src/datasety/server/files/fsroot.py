"""Opening dataset paths so that no race can leave the dataset: directory descriptors, one
component at a time, never following a symlink the walk has not checked.

Resolving a path and then opening it (``realpath`` + ``open``) leaves a window: a folder on the
way can be swapped for a symlink to anywhere between the check and the open, and the open
follows it. Here a :class:`DatasetRoot` holds a descriptor of the dataset folder (itself opened
component by component from ``/`` with ``O_NOFOLLOW``), and every path below it is walked from
that descriptor with ``openat``-style calls (``dir_fd=``): each folder is opened with
``O_NOFOLLOW | O_DIRECTORY``, each file with ``O_NOFOLLOW``. A name that is a symlink is read
(``readlink``) and followed *by the walk*, which keeps its own stack of folder descriptors: a
link that climbs above the dataset, or points to an absolute path outside it, is refused (403);
one that stays inside works as before. A symlink swapped in after the walk looked at a name
makes the ``O_NOFOLLOW`` open fail, and the walk looks again. What a caller gets is a descriptor
(a file, or the folder that holds a name) that is inside the dataset whatever happens to the
names afterwards: reads, writes (temporary file + ``rename`` in that folder), deletes
(``unlink`` in that folder) all go through it.

Libraries that want a path (Starlette's ``FileResponse``, Pillow, libvips) get
``/proc/self/fd/N`` (:func:`fd_path`), which names the open file itself, not a path to resolve.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from datasety.core.errors import AccessDeniedError, ConflictError, DatasetyError, NotFoundError
from datasety.server.files import leftovers
from datasety.server.files.security import PATH_MAX, SYMLINK_LOOP, TRAVERSAL, clean_relative

FILE_NOT_FOUND = "File not found"
PARENT_IS_A_FILE = "Failed to save file: a folder on its path is a file"
FOLDER_GONE = "Failed to save file: a folder on its path was removed meanwhile"
# As many symlinks as Linux follows in one path (MAXSYMLINKS) before ELOOP.
MAX_HOPS = 40

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
# O_PATH: a folder we may only traverse (mode --x) can still be walked through.
_DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | _NOFOLLOW
_FD_DIR = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"


def fd_path(fd: int) -> Path:
    """A path naming the open file ``fd`` itself (opening it opens that very file)."""
    return Path(f"{_FD_DIR}/{fd}")


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


@dataclass
class Slot:
    """A name in a folder of the dataset: ``fd`` is the folder (open, owned: :meth:`close`),
    ``name`` the entry in it (None for the dataset folder itself), ``made`` the folders the
    walk created on the way, outermost first, as (descriptor of their parent, name)."""

    fd: int
    name: str | None
    made: list[tuple[int, str]] = field(default_factory=list)

    def close(self) -> None:
        _close([self.fd, *(parent for parent, _ in self.made)])
        self.fd = -1
        self.made = []

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def entry(self) -> str:
        if self.name is None:
            raise NotFoundError(FILE_NOT_FOUND)
        return self.name

    def remove_made(self) -> None:
        """Undo the folders this walk created, innermost first, while they are empty (another
        request may have written there since)."""
        for parent, name in reversed(self.made):
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:
                return  # not empty any more: it, and the folders above it, stay


class DatasetRoot:
    """An open dataset folder; every path below it is opened through it (see the module)."""

    def __init__(self, real: Path) -> None:
        """Open ``real``, the dataset folder's resolved path, never through a symlink (one
        swapped in since it was resolved is refused: 403)."""
        self.path = real
        fd = os.open("/", _DIR_FLAGS)
        try:
            for part in real.parts[1:]:
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise AccessDeniedError(TRAVERSAL) from None
                    raise NotFoundError("Dataset path no longer exists on disk") from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> DatasetRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the walk ------------------------------------------------------------------------------

    def _inside(self, target: str) -> list[str] | None:
        """The components below the dataset of the absolute symlink target ``target``, or None
        when it does not point inside (the rest is walked from the dataset folder, so what it
        names stays inside whatever the names outside do)."""
        for candidate in (target, os.path.realpath(target)):
            rel = posixpath.relpath(posixpath.normpath(candidate), self.path.as_posix())
            if rel == ".":
                return []
            if rel != ".." and not rel.startswith("../"):
                return rel.split("/")
        return None

    def walk(self, rel: str, *, follow_last: bool = True, create: bool = False) -> Slot:
        """The folder holding ``rel`` and the name in it, symlinks on the way followed inside
        the dataset (the last one too with ``follow_last``). A missing folder on the way is
        made with ``create``, else 404; a missing last name is returned as it is (to create).

        403 for a way out, 400 for a symlink loop or a path too long, 409 (``create``) or 404
        for a file where a folder should be.
        """
        rel = clean_relative(rel)
        if len(os.fsencode(self.path / rel)) >= PATH_MAX:
            raise DatasetyError(f"Invalid path: longer than {PATH_MAX} bytes")
        pending = deque(rel.split("/") if rel else [])
        stack = [os.dup(self.fd)]
        slot: Slot | None = None
        made: list[tuple[int, str]] = []
        hops = 0
        try:
            while pending:
                name = pending.popleft()
                if name in ("", "."):
                    continue
                if name == "..":
                    if len(stack) == 1:
                        raise AccessDeniedError(TRAVERSAL)
                    os.close(stack.pop())
                    continue
                last = not pending
                if last and not follow_last:
                    slot = Slot(stack.pop(), name, made)
                    return slot
                try:
                    target: str | None = os.readlink(name, dir_fd=stack[-1])
                except OSError as exc:
                    if exc.errno == errno.EINVAL:
                        target = None  # there, and not a symlink
                    elif exc.errno == errno.ENOENT and last:
                        slot = Slot(stack.pop(), name, made)
                        return slot
                    elif exc.errno == errno.ENOENT and create:
                        self._mkdir(stack[-1], name, made)
                        target = None
                    elif exc.errno == errno.ENOENT:
                        raise NotFoundError(FILE_NOT_FOUND) from None
                    elif exc.errno == errno.ENOTDIR:
                        raise self._not_a_folder(create) from None
                    else:
                        raise
                if target is not None:
                    hops += 1
                    if hops > MAX_HOPS:
                        raise DatasetyError(SYMLINK_LOOP)
                    parts = target.split("/")
                    if target.startswith("/"):
                        inside = self._inside(target)
                        if inside is None:
                            raise AccessDeniedError(TRAVERSAL)
                        _close(stack[1:])
                        del stack[1:]
                        parts = inside
                    pending.extendleft(reversed(parts))
                    continue
                if last:
                    slot = Slot(stack.pop(), name, made)
                    return slot
                try:
                    stack.append(os.open(name, _DIR_FLAGS, dir_fd=stack[-1]))
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOENT):
                        # Changed since readlink (now a symlink, or gone): look again.
                        hops += 1
                        if hops > MAX_HOPS:
                            raise DatasetyError(SYMLINK_LOOP) from None
                        pending.appendleft(name)
                        continue
                    if exc.errno == errno.ENOTDIR:
                        raise self._not_a_folder(create) from None
                    raise
            # The dataset folder itself, or a path that ends in a folder.
            slot = Slot(stack.pop(), None, made)
            return slot
        finally:
            _close(stack)
            if slot is None:
                _close([parent for parent, _ in made])

    @staticmethod
    def _not_a_folder(create: bool) -> DatasetyError:
        return ConflictError(PARENT_IS_A_FILE) if create else NotFoundError(FILE_NOT_FOUND)

    @staticmethod
    def _mkdir(parent: int, name: str, made: list[tuple[int, str]]) -> None:
        try:
            os.mkdir(name, dir_fd=parent)
        except FileExistsError:
            return  # made by another request meanwhile: walked into like any folder
        except FileNotFoundError:
            # The folder we are in was removed meanwhile: what is on disk is in the way.
            raise ConflictError(FOLDER_GONE) from None
        made.append((os.dup(parent), name))

    def check(self, rel: str) -> None:
        """403/400 now if ``rel`` leads out of the dataset or loops; a path that does not exist
        (yet) is fine. Lets a write refuse before it writes anything."""
        with contextlib.suppress(NotFoundError):
            self.walk(rel).close()

    # -- files ---------------------------------------------------------------------------------

    def open_file(self, rel: str) -> int:
        """A descriptor of the regular file ``rel`` (symlinks followed inside), read-only;
        404 ``File not found`` if it is missing or not a regular file."""
        for _ in range(MAX_HOPS):
            with self.walk(rel) as slot:
                try:
                    fd = os.open(
                        slot.entry, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=slot.fd
                    )
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        continue  # became a symlink after the walk looked: walk again
                    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENXIO):
                        raise NotFoundError(FILE_NOT_FOUND) from None
                    raise
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.set_blocking(fd, True)
                return fd
            os.close(fd)
            raise NotFoundError(FILE_NOT_FOUND)
        raise DatasetyError(SYMLINK_LOOP)

    def read(self, rel: str, limit: int | None = None) -> bytes:
        """The bytes of the file ``rel`` (at most ``limit``); 404 if it is missing."""
        fd = self.open_file(rel)
        with open(fd, "rb") as handle:
            return handle.read() if limit is None else handle.read(limit)

    def is_file(self, rel: str) -> bool:
        try:
            os.close(self.open_file(rel))
        except NotFoundError:
            return False
        return True


def write_new(slot: Slot) -> tuple[int, str]:
    """Create a hidden temporary file beside ``slot``'s name (never through a symlink);
    returns its descriptor, open for writing, and its name."""
    tmp = leftovers.temp_name(slot.entry)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666, dir_fd=slot.fd)
    # Locked while written: the next server's start-up removes it only once this one is gone.
    leftovers.hold(fd)
    return fd, tmp


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def install(slot: Slot, tmp: str, exclusive: bool) -> None:
    """Move the finished ``tmp`` onto ``slot``'s name in the same folder; with ``exclusive``
    never over an existing entry (409). The name itself is replaced, never a symlink's
    target, so whatever it has become, the file lands in this folder."""
    if not exclusive:
        os.replace(tmp, slot.entry, src_dir_fd=slot.fd, dst_dir_fd=slot.fd)
        return
    try:
        # Atomic "create if absent", unlike a check then a rename.
        os.link(tmp, slot.entry, src_dir_fd=slot.fd, dst_dir_fd=slot.fd, follow_symlinks=False)
    except FileExistsError:
        raise ConflictError("File already exists (use PUT to replace it)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links here (some network or FUSE file systems): check, then rename.
        if exists(slot):
            raise ConflictError("File already exists (use PUT to replace it)") from None
        os.replace(tmp, slot.entry, src_dir_fd=slot.fd, dst_dir_fd=slot.fd)


def exists(slot: Slot) -> bool:
    """True if ``slot``'s name is there (a symlink counts, broken or not)."""
    try:
        os.stat(slot.entry, dir_fd=slot.fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def list_names(folder: int) -> list[str]:
    """The names in the folder ``folder`` (a walk's descriptor, which may not be readable)."""
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=folder)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def remove_quietly(folder: int, name: str) -> None:
    """Remove ``name`` from ``folder`` if it is still there (a temporary file)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=folder)


def write_atomic(slot: Slot, data: bytes) -> None:
    """Replace ``slot``'s name with ``data``: temporary file, fsync, rename, in its folder."""
    fd, tmp = write_new(slot)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        install(slot, tmp, exclusive=False)
    finally:
        remove_quietly(slot.fd, tmp)
