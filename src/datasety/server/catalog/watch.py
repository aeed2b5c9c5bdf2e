"""Which entries of the watched folders changed, from Linux inotify, without touching the disk.

One inotify descriptor serves every catalog of the server. A listing first :meth:`drain`\\ s it
(one ``ioctl`` when nothing happened) and each change goes to the catalog that watches its
folder. The kernel queues an event before the system call that caused it returns, so a change
made by another program before a request arrives is always seen by that request.

Where inotify cannot see every change (not Linux, a network or FUSE file system whose other
clients write behind the kernel's back, the per-user watch limit reached) a catalog falls back
to checking the disk (see :mod:`datasety.server.catalog.catalogs`).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

# A file system on which another machine's writes produce no local event.
REMOTE_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "afs", "gpfs"}
)

# What a listing depends on: names appearing and disappearing, contents and sizes, and the
# watched folder itself going away.
_MASK_NAMES = (
    "CREATE",
    "DELETE",
    "MODIFY",
    "CLOSE_WRITE",
    "ATTRIB",
    "MOVED_FROM",
    "MOVED_TO",
    "DELETE_SELF",
    "MOVE_SELF",
)

# (folder, name, is_dir): ``name`` "" means the folder itself (or, with folder None, everything:
# the kernel's queue overflowed).
Sink = Callable[[str | None, str, bool], None]


def fs_type(path: Path) -> str:
    """The type of the file system holding ``path`` (from /proc/self/mounts), or ""."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return ""
    best, kind = "", ""
    target = str(path)
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        # Mount points escape spaces as \040.
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def watchable(path: Path) -> bool:
    """Whether inotify sees every change under ``path``."""
    if not sys.platform.startswith("linux"):
        return False
    kind = fs_type(path)
    return bool(kind) and kind not in REMOTE_FS and not kind.startswith("fuse")


class FolderWatch:
    """inotify watches on folders, each with the sink its changes go to. Thread-safe."""

    def __init__(self) -> None:
        import inotify_simple  # Linux only: imported where it is used

        self._inotify = inotify_simple.INotify(nonblocking=True)
        flags = inotify_simple.flags
        mask = 0
        for name in _MASK_NAMES:
            mask |= flags[name]
        self._mask = mask | flags.ONLYDIR | flags.DONT_FOLLOW
        self._overflow = int(flags.Q_OVERFLOW)
        self._isdir = int(flags.ISDIR)
        self._ignored = int(flags.IGNORED)
        self._gone = int(flags.IGNORED | flags.DELETE_SELF | flags.MOVE_SELF)
        self._lock = threading.Lock()
        # Per watch, each sink that watches it and the name it knows the folder by (two
        # datasets may share a folder; a renamed folder keeps its watch under a new name).
        self._targets: dict[int, dict[Sink, str]] = {}
        # Closed with its owner even if nobody calls close() (no unclosed-file warning).
        self._closer = weakref.finalize(self, self._inotify.close)

    @classmethod
    def open(cls) -> FolderWatch | None:
        """A new watch, or None where inotify is not available."""
        if not sys.platform.startswith("linux"):
            return None
        try:
            return cls()
        except (OSError, ImportError):
            return None

    def add(self, path: str, folder: str, sink: Sink) -> int:
        """Watch the folder at ``path``, known to ``sink`` as ``folder``; returns the watch
        descriptor. Raises ``OSError`` (the watch limit reached, or no such folder)."""
        with self._lock:
            wd: int = self._inotify.add_watch(path, self._mask)
            self._targets.setdefault(wd, {})[sink] = folder
            return wd

    def remove(self, wd: int, sink: Sink) -> None:
        """``sink`` no longer watches ``wd`` (the kernel's watch goes with its last sink)."""
        with self._lock:
            sinks = self._targets.get(wd)
            if sinks is None or sinks.pop(sink, None) is None or sinks:
                return
            del self._targets[wd]
            # The kernel may have dropped it already (the folder is gone).
            with contextlib.suppress(OSError):
                self._inotify.rm_watch(wd)

    def drain(self) -> None:
        """Hand every queued event to its sinks (returns at once when there are none)."""
        with self._lock:
            for event in self._inotify.read(timeout=0):
                if event.mask & self._overflow:
                    for sink in {sink for sinks in self._targets.values() for sink in sinks}:
                        sink(None, "", True)
                    continue
                sinks = self._targets.get(event.wd)
                if not sinks:
                    continue
                if event.mask & self._ignored:
                    del self._targets[event.wd]  # the kernel dropped the watch
                for sink, folder in sinks.items():
                    if event.mask & self._gone:
                        sink(folder, "", True)
                    else:
                        sink(folder, event.name, bool(event.mask & self._isdir))

    def close(self) -> None:
        with self._lock:
            self._targets.clear()
            self._closer()
