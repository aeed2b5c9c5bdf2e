"""The entries of a dataset's first scan, published folder by folder while the scan goes on.

A million-file dataset takes seconds to scan; a gallery asking for its first page should not
wait for the last folder. The scan walks folders in path order (a heap of folder paths: every
subfolder sorts after its parent, so folders come out sorted), and the entries of folder ``F``
are final once ``F`` and its role folders (``F/control``, ``F/target``...: their images join
``F``'s groups) are scanned. Entries sort by (folder, base name), so the entries published so
far are exactly the first ones of the finished listing: a page inside them is the page the
finished listing will show.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from datasety.core import layout
from datasety.server.catalog.listing import Entry, FileRec, build_entries

if TYPE_CHECKING:
    from datasety.server.catalog.catalogs import DirRec

# A page is answered from a scan still running only once the scan has taken this long: a
# short scan answers with its exact ``total``, as it always did.
PARTIAL_AFTER_SECONDS = 1.0


def is_role_folder(folder: str) -> bool:
    return folder.rpartition("/")[2].lower() in layout.ROLE_FOLDERS


def folder_entries(path: str, dirs: dict[str, DirRec]) -> list[Entry]:
    """The entries whose folder is ``path``: made of its files and its role folders' files."""
    folders = [path] if path in dirs else []
    if folders:
        folders.extend(d for d in dirs[path].subdirs if is_role_folder(d))
    recs: Iterable[FileRec] = (rec for f in folders if f in dirs for rec in dirs[f].files.values())
    return build_entries(recs, path)


class ScanProgress:
    """What a first scan has published; thread-safe. The walk calls :meth:`scanned` (or
    :meth:`skipped`) for each folder in path order, and :meth:`finish` at the end."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._started = time.monotonic()
        self._dirs: dict[str, DirRec] = {}
        self._skipped: set[str] = set()
        self._waiting: deque[str] = deque()  # scanned folders, in order, not yet published
        self._entries: list[Entry] = []
        # Where each folder's published entries lie in ``_entries`` (folders without any too).
        self._ranges: dict[str, tuple[int, int]] = {}
        self._media: list[Entry] = []
        self.done = False

    def scanned(self, rel: str, rec: DirRec) -> None:
        with self._cond:
            self._dirs[rel] = rec
            self._waiting.append(rel)
            self._publish()

    def skipped(self, rel: str) -> None:
        """``rel`` could not be scanned (gone, not a folder): it holds no entries."""
        with self._cond:
            self._skipped.add(rel)
            self._publish()

    def finish(self) -> None:
        with self._cond:
            self.done = True
            self._cond.notify_all()

    def in_top_folder(self, name: str) -> bool:
        """Whether the dataset's top folder (scanned first) holds a file ``name``."""
        with self._cond:
            rec = self._dirs.get("")
            return rec is not None and name in rec.files

    def listing(self) -> tuple[list[Entry], dict[str, tuple[int, int]]] | None:
        """Every entry, and where each folder's lie among them, once every folder scanned is
        published: the whole listing when the scan has ended (None if a folder is still
        waiting for its role folders). The list is the scan's own (not a copy: a million
        entries are 4 MB), never changed once the scan has ended."""
        with self._cond:
            return None if self._waiting else (self._entries, dict(self._ranges))

    def _publish(self) -> None:
        published = False
        while self._waiting:
            path = self._waiting[0]
            roles = [d for d in self._dirs[path].subdirs if is_role_folder(d)]
            if any(d not in self._dirs and d not in self._skipped for d in roles):
                break  # its role folders come later: its groups are not whole yet
            self._waiting.popleft()
            fresh = folder_entries(path, self._dirs)
            self._ranges[path] = (len(self._entries), len(self._entries) + len(fresh))
            self._entries.extend(fresh)
            self._media.extend(e for e in fresh if e.has_media)
            published = True
        if published:
            self._cond.notify_all()

    def page(self, offset: int, limit: int, media_only: bool) -> tuple[list[Entry], int] | None:
        """(the page, entries known so far) once the published entries hold the whole page
        and the scan has run :data:`PARTIAL_AFTER_SECONDS`; None when the scan ends first."""
        with self._cond:
            while not self.done:
                found = self._media if media_only else self._entries
                waited = time.monotonic() - self._started
                if len(found) >= offset + limit and waited >= PARTIAL_AFTER_SECONDS:
                    return found[offset : offset + limit], len(found)
                timeout = max(PARTIAL_AFTER_SECONDS - waited, 0.0) or None
                self._cond.wait(timeout=timeout)
            return None
