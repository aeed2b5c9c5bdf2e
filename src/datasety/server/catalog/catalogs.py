"""Fast, cached dataset listings that still see what other programs change.

Per dataset, a :class:`Catalog` keeps every folder's scan (one :class:`FileRec` per file), the
entries built from them by folder (rebuilt only when files appear, disappear or are replaced,
and then only the folder's), the results of filters per folder (:mod:`.folder_filters`: kept
until that folder changes) and per version the results of the last queries, so a warm page
costs the page. Caption texts are read when an entry is first rendered, not at the scan. The
full listing is streamed, and a copy of it is kept on disk per version
(:mod:`datasety.server.catalog.listing_cache`), never in memory.

Freshness, where inotify sees every change (Linux, a local file system; see
:mod:`datasety.server.catalog.watch`): every folder is watched, and a listing applies the events
queued since the last one (each names the folder and entry that changed), so a warm listing
touches nothing on disk. A queue overflow or a changed folder falls back to the checks below once.

Freshness elsewhere (and for the first scan):

* added, removed, renamed or atomically replaced files: seen by the next listing (their folder
  changed; a replaced file has a new inode, so only it is stat'ed again);
* captions edited in place: seen by the next listing (every caption read so far is stat'ed);
* an mtime within ``RACY_NS`` of the moment it was read is not trusted (file systems have
  coarse timestamps), so that folder or caption is read again next time;
* other files rewritten in place (same inode, same folder entries): their ``size_bytes`` is
  refreshed by a sweep at most every ``SWEEP_SECONDS`` (with inotify: only symlinks, whose
  targets may change without an event in the symlink's folder).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import heapq
import os
import stat
import threading
import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from datasety.core import layout
from datasety.core.errors import DatasetyError
from datasety.server.catalog.dimensions import Size, SizeCache, read_size
from datasety.server.catalog.first_scan import ScanProgress, folder_entries, is_role_folder
from datasety.server.catalog.folder_filters import (
    FilterCache,
    FilterKey,
    lacking_caption,
    may_match,
    searched,
)
from datasety.server.catalog.listing import (
    CAPTION_READ_LIMIT,
    Entry,
    FileRec,
    build_entries,
    file_rec,
    head,
    partial_tail,
    render,
    tail,
)
from datasety.server.catalog.listing_cache import BodyCache, clear_folder, file_chunks
from datasety.server.catalog.listing_order import SIZE_SORTS, first_image, sort_entries
from datasety.server.catalog.watch import FolderWatch, watchable
from datasety.server.files.fsroot import DatasetRoot, Slot, fd_path

RACY_NS = 2_000_000_000
SWEEP_SECONDS = 10.0
# Query results kept per version (a gallery pages through one or two at a time).
SELECTIONS_KEPT = 16
# Entries rendered per chunk of a streamed listing.
CHUNK_ENTRIES = 512
# Objects made during a walk or build from which they are kept out of the collector's walks.
FREEZE_FROM = 200_000
# Unread captions of a chunk from which the stream reads them in two threads.
PARALLEL_READS_FROM = 64


@dataclass(slots=True)
class DirRec:
    mtime_ns: int
    ino: int
    racy: bool
    files: dict[str, FileRec]
    subdirs: list[str]
    links: list[str]  # names of the files that are symlinks


@dataclass(slots=True)
class TextRec:
    """A text file read whole (metadata.csv) and the (mtime, size, inode) it was read at."""

    mtime_ns: int
    size: int
    ino: int
    text: str
    racy: bool

    def holds(self, st: os.stat_result) -> bool:
        return self.mtime_ns == st.st_mtime_ns and self.size == st.st_size and self.ino == st.st_ino


@dataclass
class Query:
    """What a listing request asks for."""

    folder: str = ""
    group: bool = False
    q: str = ""
    missing_caption: bool = False
    limit: int | None = None
    offset: int = 0
    media_only: bool = False  # only entries with an image, audio or video file
    sort: str | None = None  # one of listing_order.SORTS; None: folder, then base name
    descending: bool = False
    dims: bool = False  # each entry gains "width" and "height"

    @property
    def pages_first_scan(self) -> bool:
        """A page of the listing in its own order: one a first scan can answer early."""
        filtered = self.folder or self.q or self.missing_caption or self.sort
        return self.limit is not None and not filtered

    @property
    def is_plain(self) -> bool:
        # ``limit=0`` is a real page (no entries, just the total): only None means "all".
        paged = self.limit is not None or self.offset
        extras = self.media_only or self.sort or self.dims
        return not (self.folder or self.q or self.missing_caption or paged or extras)


@dataclass
class Body:
    """A listing's JSON: whole (``data``) or streamed (``chunks``, ``length`` if known)."""

    data: bytes | None = None
    chunks: Iterator[bytes] | None = None
    length: int | None = None
    gzipped: bool = False

    def read(self) -> bytes:
        """The whole body (for tests and in-process benchmarks)."""
        if self.data is not None:
            return self.data
        assert self.chunks is not None
        return b"".join(self.chunks)


# Windows cannot stat relative to a folder descriptor.
_STAT_DIR_FD = os.stat in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextlib.contextmanager
def _scandir(path: str) -> Iterator[Iterator[os.DirEntry[str]]]:
    """``os.scandir(path)``, through a descriptor of the folder where the platform allows:
    each entry's stat is then relative to it (a quarter faster than resolving its path)."""
    if not _STAT_DIR_FD or os.scandir not in os.supports_fd:
        with os.scandir(path) as entries:
            yield entries
        return
    # O_NOFOLLOW: a folder swapped for a symlink since its stat is not followed out.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with os.scandir(fd) as entries:
            yield entries
    finally:
        os.close(fd)


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


class Catalog:
    """The cached listing of one dataset folder (``root`` resolved). Thread-safe."""

    def __init__(
        self, root: Path, watch: FolderWatch | None = None, cache: BodyCache | None = None
    ) -> None:
        self.root = root
        self._root = str(root)
        # Reentrant: rendering a page under the lock reads captions, which takes it again.
        self._lock = threading.RLock()
        self._dirs: dict[str, DirRec] = {}
        self._metadata: TextRec | None = None
        self._metadata_rows: dict[str, str] = {}
        # _version: anything listed changed. The entries change only when files appear,
        # disappear or are replaced: all of them after a walk (``_stale``), else only those
        # of the folders in ``_stale_paths`` (a gallery's upload costs its folder, not all).
        self._version = 0
        self._stale = True
        self._stale_paths: set[str] = set()
        self._entries: list[Entry] = []
        # Per folder with entries ("part", see folder_filters.py): where they lie in
        # ``_entries`` and the serial of their last build; the folders sorted; per folder the
        # generation it was last touched at (a file changed in place).
        self._ranges: dict[str, tuple[int, int]] = {}
        self._builds: dict[str, int] = {}
        self._build_serial = 0
        self._paths: list[str] = []
        self._generation = 0
        self._touched: dict[str, int] = {}
        self._filters = FilterCache()
        self._selections: dict[tuple[object, ...], list[Entry]] = {}
        self._selections_version = -1
        # Captions read within RACY_NS of their mtime, read again at the next check.
        self._racy_texts: list[FileRec] = []
        self._last_sweep = time.monotonic()
        self._cache = cache or BodyCache(None)
        # inotify, once every folder is watched (``_watching``); None: check the disk.
        self._watch = watch if watch is not None and watchable(root) else None
        self._watching = False
        self._wds: dict[str, int] = {}
        self._events: deque[tuple[str | None, str, bool]] = deque()
        self._fsroot: DatasetRoot | None = None
        self._sizes = SizeCache()
        # The first walk: set while it runs in the background for an early first page.
        self._walked = False
        self._progress: ScanProgress | None = None
        self._start_lock = threading.Lock()

    # -- public -----------------------------------------------------------------------------

    def listing(self, query: Query, gzipped: bool = False) -> Body:
        """The JSON of a listing (``{"files": [...]}`` or ``{"pairs": [...]}``, with ``total``).

        A page or a filtered listing is rendered whole; the full listing is streamed, from a
        copy on disk of this version when there is one (gzip-compressed if ``gzipped``). A page
        asked while the first scan of a big dataset runs is answered as soon as the scan has
        passed it (see :mod:`datasety.server.catalog.first_scan`), with ``"complete": false``
        and the entries found so far as its ``total``."""
        early = self._early_page(query)
        if early is not None:
            return Body(data=early)
        with self._lock:
            self._refresh()
            if not query.is_plain:
                return Body(data=self._page(query))
            entries, version = self._all_entries(), self._version
            cached = self._cache.open(version, query.group, gzipped)
        if cached is not None:
            handle, length = cached
            return Body(chunks=file_chunks(handle), length=length, gzipped=gzipped)
        chunks = self._stream(entries, query.group)
        return Body(
            chunks=self._cache.keep(version, query.group, gzipped, chunks, self._is_current),
            gzipped=gzipped,
        )

    def note_write(self, rel: str) -> None:
        """The server itself wrote ``rel``: record its new state without waiting for a scan."""
        folder, name = os.path.split(rel)
        with self._lock:
            if self._apply_file_event(folder, name):
                self._version += 1

    def note_delete(self, rel: str) -> None:
        """The server itself deleted ``rel``."""
        self.note_write(rel)

    def close(self) -> None:
        """Stop watching this dataset's folders and drop its cached bodies."""
        with self._lock:
            self._stop_watching()
            self._cache.clear()
            if self._fsroot is not None:
                self._fsroot.close()
                self._fsroot = None

    def _dataset_root(self) -> DatasetRoot:
        """The dataset folder, open (once) for reads that cannot leave it."""
        fsroot = self._fsroot
        if fsroot is not None:
            return fsroot  # without the lock: an early page reads while the first scan holds it
        with self._lock:
            if self._fsroot is None:
                self._fsroot = DatasetRoot(self.root)
            return self._fsroot

    # -- the first scan ---------------------------------------------------------------------

    def _early_page(self, query: Query) -> bytes | None:
        """``query``'s page from a first scan still running (started here if none has), or
        None: the scan ended first, or the query needs the whole dataset."""
        if self._walked or not query.pages_first_scan:
            return None
        progress = self._start_first_scan()
        if progress is None:
            return None
        assert query.limit is not None
        found = progress.page(query.offset, query.limit, query.media_only)
        if found is None:
            return None
        page, known = found
        metadata = self._early_metadata(progress)

        def caption_of(entry: Entry) -> tuple[str, bool]:
            # Read, not kept: the scan holds the lock the kept texts are written under.
            rec = entry.caption_file
            if rec is None:
                text = entry.metadata_caption(metadata)
                return ("", False) if text is None else (text, True)
            if rec.text is not None:
                return rec.text, False
            read = reader.read(rec)
            return ("" if read is None else read[0].decode("utf-8", "replace")), False

        with _CaptionReader(self) as reader:
            fragments = b",".join(
                render(
                    e,
                    query.group,
                    caption_of,
                    _size_json(self._image_size(e)) if query.dims else "",
                )
                for e in page
            )
        return head(query.group) + fragments + partial_tail(known)

    def _start_first_scan(self) -> ScanProgress | None:
        """The running first scan's progress, starting it in the background if need be."""
        with self._start_lock:
            if self._progress is not None:
                return self._progress
            # Taken by a listing refreshing now (it walks inline): wait for it as usual.
            if not self._lock.acquire(blocking=False):
                return None
            try:
                if self._walked:
                    return None
                try:
                    self._dataset_root()  # opened now: an early page reads without the lock
                except (OSError, DatasetyError):
                    return None  # the folder is gone: the ordinary listing says what it says
                progress = self._progress = ScanProgress()
            finally:
                self._lock.release()
        threading.Thread(target=self._first_walk, args=(progress,), daemon=True).start()
        return progress

    def _first_walk(self, progress: ScanProgress) -> None:
        try:
            with self._lock:
                try:
                    self._refresh()
                finally:
                    # Before the lock goes: no later walk reports to it (its list of entries
                    # becomes the listing's just below).
                    self._progress = None
                published = progress.listing()
                if self._stale and published is not None:
                    # The folders' entries in path order are the listing's: not built twice.
                    self._adopt(*published)
                    self._stale = False
                    self._stale_paths.clear()
                self._all_entries()  # the next page is a warm one
        finally:
            progress.finish()

    def _early_metadata(self, progress: ScanProgress) -> dict[str, str]:
        """The ``metadata.csv`` rows for an early page (read now; the scan reads them again)."""
        if not progress.in_top_folder(layout.METADATA_CSV):
            return {}
        try:
            with open(os.path.join(self._root, layout.METADATA_CSV), "rb") as handle:
                return layout.parse_metadata(handle.read().decode("utf-8", "replace"))
        except OSError:
            return {}

    # -- queries ----------------------------------------------------------------------------

    def _all_entries(self) -> list[Entry]:
        if self._stale:
            # Folder by folder in path order (a folder's entries are made of it and its role
            # folders), so building never holds the groups of the whole dataset at once.
            dirs = self._dirs
            entries: list[Entry] = []
            ranges: dict[str, tuple[int, int]] = {}
            with _gc_paused():
                for path in sorted(dirs):
                    found = folder_entries(path, dirs)
                    ranges[path] = (len(entries), len(entries) + len(found))
                    entries += found
            self._adopt(entries, ranges)
            self._stale = False
            self._stale_paths.clear()
        elif self._stale_paths:
            fresh = {path: folder_entries(path, self._dirs) for path in self._stale_paths}
            self._filters.forget(self._stale_paths)
            self._patch(fresh)
            self._stale_paths.clear()
        return self._entries

    def _adopt(self, entries: list[Entry], ranges: dict[str, tuple[int, int]]) -> None:
        """The whole listing, built anew (by a walk, or published by a first scan):
        ``entries`` and where each folder's lie among them."""
        self._entries = entries
        self._ranges = {path: span for path, span in ranges.items() if span[0] < span[1]}
        self._paths = sorted(self._ranges)
        self._filters.clear()
        self._builds = {}
        for path in self._paths:
            self._build_serial += 1
            self._builds[path] = self._build_serial

    def _patch(self, fresh: dict[str, list[Entry]]) -> None:
        """The entries of the folders in ``fresh`` built anew: the listing is every folder's
        entries in path order, a new list (streams still read the old one)."""
        old_entries, old_ranges = self._entries, self._ranges
        kept = [path for path in old_ranges if path not in fresh]
        paths = sorted(chain(kept, (path for path, found in fresh.items() if found)))
        came_or_went = paths != self._paths
        if came_or_went:
            self._paths = paths
            self._filters.clear()  # no result of a gone folder kept
        entries: list[Entry] = []
        ranges: dict[str, tuple[int, int]] = {}
        for path in paths:
            found = fresh.get(path)
            if found is None:
                start, end = old_ranges[path]
                found = old_entries[start:end]
            else:
                self._build_serial += 1
                self._builds[path] = self._build_serial
            ranges[path] = (len(entries), len(entries) + len(found))
            entries += found
        self._entries, self._ranges = entries, ranges
        if came_or_went:
            self._builds = {path: self._builds[path] for path in paths}

    def _paths_under(self, folder: str) -> list[str]:
        """The folders with entries that are ``folder`` or inside it, in path order."""
        paths = self._paths
        if not folder:
            return paths
        # Every path that starts with "folder/" sorts in ["folder/", "folder0"): '0' is '/'+1.
        inside = paths[bisect_left(paths, folder + "/") : bisect_left(paths, folder + "0")]
        return [folder, *inside] if folder in self._ranges else inside

    def _part(self, path: str) -> list[Entry]:
        start, end = self._ranges[path]
        return self._entries[start:end]

    def _touch(self, folder: str) -> None:
        """A file of ``folder`` changed in place (its size, a caption's text): the kept
        filter results of its entries (and of its parent's, for a role folder) are not."""
        self._generation += 1
        self._touched[folder] = self._generation
        if is_role_folder(folder):
            self._touched[folder.rpartition("/")[0]] = self._generation

    def _recs(self, folder: str = "") -> Iterator[FileRec]:
        prefix = folder + "/" if folder else ""
        for rel, rec in self._dirs.items():
            if not folder or rel == folder or rel.startswith(prefix):
                yield from rec.files.values()

    def _select(self, query: Query) -> list[Entry]:
        if self._selections_version != self._version:
            self._selections, self._selections_version = {}, self._version
        key = (
            *(query.folder, query.q, query.missing_caption),
            *(query.media_only, query.sort, query.descending),
        )
        found = self._selections.get(key)
        if found is not None:
            return found
        filtered = (query.q.lower(), query.missing_caption, query.media_only)
        entries = self._all_entries()
        if is_role_folder(query.folder):
            # Its images belong to its parent's entries: grouped anew, from its files only.
            found = self._filter(build_entries(self._recs(query.folder)), filtered, True)
        elif filtered == ("", False, False):
            paths = self._paths_under(query.folder)
            found = entries if paths is self._paths else self._joined(paths)
        else:
            found = self._filter_parts(self._paths_under(query.folder), filtered)
        if query.sort:
            with _CaptionReader(self) as reader:
                found = sort_entries(
                    found,
                    query.sort,
                    query.descending,
                    lambda e: reader.caption(e)[0],
                    self._image_size,
                )
        if len(self._selections) >= SELECTIONS_KEPT:
            del self._selections[next(iter(self._selections))]
        self._selections[key] = found
        return found

    def _joined(self, paths: list[str]) -> list[Entry]:
        return list(chain.from_iterable(map(self._part, paths)))

    def _filter_parts(self, paths: list[str], key: FilterKey) -> list[Entry]:
        """The entries of ``paths`` that ``key`` selects, each folder's kept until it changes."""
        needle = key[0]
        # A metadata.csv row holding the needle: every folder may match (audio anywhere).
        rows_match = bool(needle) and any(needle in t.lower() for t in self._metadata_rows.values())
        found: list[Entry] = []
        for path in paths:
            build, generation = self._builds[path], self._generation
            touched = self._touched.get(path, 0)
            kept = self._filters.get(key, path, build, touched)
            if kept is None:
                maybe = not needle or rows_match
                if not maybe:
                    text = self._filters.search_text(path, build, touched, generation, self._dirs)
                    maybe = may_match(needle, text)
                kept = self._filter(self._part(path), key, maybe)
                self._filters.put(key, path, build, generation, kept)
            found.extend(kept)
        return found

    def _filter(self, entries: list[Entry], key: FilterKey, maybe: bool) -> list[Entry]:
        """The ``entries`` that ``key`` selects (none if a search cannot match: ``maybe``)."""
        needle, missing_caption, media_only = key
        if not maybe:
            return []
        found = entries
        if media_only:
            found = [e for e in found if e.has_media]
        if missing_caption:
            rows = self._metadata_rows
            found = lacking_caption(found, rows)
        if needle:
            with _CaptionReader(self) as reader:
                found = searched(found, needle, lambda e: reader.caption(e)[0])
        return found

    def _page(self, query: Query) -> bytes:
        entries = self._select(query)
        end = None if query.limit is None else query.offset + query.limit
        page = entries[query.offset : end]
        dims = query.dims or query.sort in SIZE_SORTS
        with _CaptionReader(self) as reader:
            fragments = b",".join(
                render(
                    e, query.group, reader.caption, _size_json(self._image_size(e)) if dims else ""
                )
                for e in page
            )
        return head(query.group) + fragments + tail(len(entries))

    def selection(self, query: Query) -> list[Entry]:
        """The entries ``query`` selects (all of them: ``limit``/``offset`` ignored)."""
        with self._lock:
            self._refresh()
            return self._select(query)

    def captions_of(self, entries: list[Entry]) -> list[tuple[str, bool]]:
        """Each entry's caption, and whether it is a ``metadata.csv`` row (one folder
        descriptor per folder, as a listing reads them)."""
        with self._lock, _CaptionReader(self) as reader:
            return [self._caption(entry, reader) for entry in entries]

    def image_size(self, entry: Entry) -> Size | None:
        """The (width, height) of an entry's image (a pair's target), or None."""
        with self._lock:
            return self._image_size(entry)

    def _image_size(self, entry: Entry) -> Size | None:
        rec = first_image(entry)
        if rec is None:
            return None
        key = (rec.path, rec.ino, rec.mtime_ns, rec.size)
        known, size = self._sizes.get(key)
        if known:
            return size
        try:
            fd = self._dataset_root().open_file(rec.path)
        except (OSError, DatasetyError):
            return None  # gone since the scan, or now outside: not remembered
        try:
            size = read_size(fd_path(fd))
        finally:
            os.close(fd)
        self._sizes.put(key, size)
        return size

    def _stream(self, entries: list[Entry], pair: bool) -> Iterator[bytes]:
        """The full listing of ``entries`` in chunks (rendered as it is read)."""
        yield head(pair)
        for start in range(0, len(entries), CHUNK_ENTRIES):
            chunk = entries[start : start + CHUNK_ENTRIES]
            self._read_captions(chunk)
            # The reader holds a folder open: closed before the chunk goes to a slow client.
            with _CaptionReader(self) as reader:
                fragments = b",".join(render(e, pair, reader.caption) for e in chunk)
            yield (b"," + fragments) if start else fragments
        yield tail(len(entries))

    def _read_captions(self, entries: list[Entry]) -> None:
        """Read (and keep) the unread captions of ``entries``, half of them in a second
        thread: a read's system calls release the GIL, so one thread reads while the other
        runs Python (a first full listing reads every caption of the dataset). Called
        without the lock held: the reads are kept here, by this thread."""
        recs = []
        for entry in entries:
            rec = entry.caption_file
            if rec is not None and rec.text is None:
                recs.append(rec)
        if len(recs) < PARALLEL_READS_FROM:
            return  # the render reads them one by one
        try:
            self._dataset_root()  # opened here: the reading thread never waits for the lock
        except (OSError, DatasetyError):
            return  # the render says what it says
        version, half = self._version, len(recs) // 2
        theirs = _caption_pool().submit(self._read_texts, recs[:half])
        mine = self._read_texts(recs[half:])
        for rec, read_ns, found in chain(theirs.result(), mine):
            self._keep_caption(rec, found, version, read_ns)

    def _read_texts(
        self, recs: list[FileRec]
    ) -> list[tuple[FileRec, int, tuple[bytes, os.stat_result] | None]]:
        with _CaptionReader(self) as reader:
            return [(rec, time.time_ns(), reader.read(rec)) for rec in recs]

    def _is_current(self, version: int) -> bool:
        return self._version == version

    def _caption(self, entry: Entry, reader: _CaptionReader) -> tuple[str, bool]:
        """An entry's caption, and whether it is a ``metadata.csv`` row."""
        rec = entry.caption_file
        if rec is None:
            text = entry.metadata_caption(self._metadata_rows)
            return ("", False) if text is None else (text, True)
        text = rec.text
        return (text if text is not None else self._read_caption(rec, reader)), False

    def _read_caption(self, rec: FileRec, reader: _CaptionReader) -> str:
        """Read a caption now; kept unless something changed while it was read."""
        version = self._version
        read_ns = time.time_ns()
        return self._keep_caption(rec, reader.read(rec), version, read_ns)

    def _keep_caption(
        self,
        rec: FileRec,
        found: tuple[bytes, os.stat_result] | None,
        version: int,
        read_ns: int,
    ) -> str:
        """The text of a caption read (``found``) at ``version``, ``read_ns``; kept unless
        something changed since."""
        if found is None:
            return ""  # gone since the scan (the next refresh drops it), or now outside
        data, st = found
        text = data.decode("utf-8", "replace")
        with self._lock:
            if self._version == version:
                rec.text = text
                if (st.st_size, st.st_ino, st.st_mtime_ns) != (rec.size, rec.ino, rec.mtime_ns):
                    # Changed since the scan: what the next check compares with is this.
                    rec.size, rec.ino, rec.mtime_ns = st.st_size, st.st_ino, st.st_mtime_ns
                    self._touch(rec.folder)
                    self._version += 1
                if not self._watching and read_ns - st.st_mtime_ns < RACY_NS:
                    self._racy_texts.append(rec)
        return text

    # -- freshness --------------------------------------------------------------------------

    def _refresh(self) -> None:
        changed = self._apply_events() if self._watching else False
        if not self._watching:
            changed = self._walk() or changed
            changed = self._check_captions() or changed
        changed = self._refresh_metadata() or changed
        if time.monotonic() - self._last_sweep > SWEEP_SECONDS:
            changed = self._sweep() or changed
        # Every folder has a watch now (unless adding one failed): events from here on.
        self._watching = self._watch is not None
        if changed:
            self._version += 1

    def _relayout(self, folder: str | None = None) -> None:
        """Files of ``folder`` (None: anywhere) appeared, disappeared or were replaced."""
        self._version += 1
        if folder is None:
            self._stale = True
            return
        self._stale_paths.add(folder)
        parent, _, name = folder.rpartition("/")
        if is_role_folder(name):
            self._stale_paths.add(parent)  # its images belong to groups of the parent

    def _walk(self) -> bool:
        with _gc_paused():  # a first walk makes a million records for some datasets
            return self._walk_folders()

    def _walk_folders(self) -> bool:
        changed = False
        seen: set[str] = set()
        progress = self._progress
        # In path order (a subfolder sorts after its parent), so a first scan can publish
        # its entries as it goes (first_scan.py).
        pending = [""]
        while pending:
            rel = heapq.heappop(pending)
            try:
                st = os.stat(os.path.join(self._root, rel), follow_symlinks=False)
            except OSError:
                st = None
            rec = self._dirs.get(rel)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                st = None
            elif st is not None and (
                rec is None or rec.racy or rec.mtime_ns != st.st_mtime_ns or rec.ino != st.st_ino
            ):
                fresh = self._scan(rel, st, rec)
                if fresh is None:
                    st = None
                else:
                    changed = changed or _differs(rec, fresh)
                    self._dirs[rel] = rec = fresh
            if st is None or rec is None:
                if progress is not None:
                    progress.skipped(rel)
                continue
            if progress is not None:
                progress.scanned(rel, rec)
            seen.add(rel)
            for sub in rec.subdirs:
                heapq.heappush(pending, sub)
        gone = [rel for rel in self._dirs if rel not in seen]
        for rel in gone:
            del self._dirs[rel]
            self._unwatch_folder(rel)
        self._walked = True
        if changed or gone:
            self._relayout()
            return True
        return False

    def _scan(self, rel: str, st: os.stat_result, old: DirRec | None) -> DirRec | None:
        self._watch_folder(rel)
        scanned_ns = time.time_ns()
        old_files = old.files if old else {}
        files: dict[str, FileRec] = {}
        subdirs: list[str] = []
        links: list[str] = []
        shared: dict[tuple[str, str], tuple[str, str]] = {}
        # File systems stamp with a coarse clock (and archives keep whole seconds), so files
        # of a folder share few mtimes: one int object each (48 bytes a file at 1M files).
        mtimes: dict[int, int] = {}
        try:
            with _scandir(os.path.join(self._root, rel)) as entries:
                for entry in entries:
                    name = entry.name
                    if name[0] == "." or not (name.isascii() or _utf8(name)):
                        continue
                    try:
                        # Files first: nearly every entry of a big dataset is one.
                        if entry.is_file(follow_symlinks=False):
                            prev = old_files.get(name)
                            ino = entry.inode()
                            if prev is None or prev.ino != ino:
                                s = entry.stat(follow_symlinks=False)
                                mtime = mtimes.setdefault(s.st_mtime_ns, s.st_mtime_ns)
                                prev = file_rec(rel, name, s.st_size, ino, mtime, shared)
                            files[name] = prev
                        elif entry.is_dir(follow_symlinks=False):
                            subdirs.append(_join(rel, name))
                        elif entry.is_symlink():
                            linked = self._linked_file(rel, name)
                            if linked is not None:
                                files[name] = linked
                                links.append(name)
                    except OSError:
                        continue  # removed while we looked: the next scan agrees
        except OSError:
            return None
        racy = scanned_ns - st.st_mtime_ns < RACY_NS
        return DirRec(st.st_mtime_ns, st.st_ino, racy, files, sorted(subdirs), sorted(links))

    def _linked_file(self, rel: str, name: str) -> FileRec | None:
        # A symlink is listed only if it is a file inside the dataset: never a way out.
        try:
            target = Path(self._root, rel, name).resolve()
        except RuntimeError:
            return None  # a symlink loop (pathlib raises RuntimeError): nothing to list
        if not target.is_relative_to(self.root):
            return None
        try:
            s = os.stat(target)
        except OSError:
            return None
        if not stat.S_ISREG(s.st_mode):
            return None
        return file_rec(rel, name, s.st_size, s.st_ino, s.st_mtime_ns)

    def _check_captions(self) -> bool:
        """Stat every caption read so far; one changed since is read again when needed."""
        changed = False
        racy, self._racy_texts = self._racy_texts, []
        for rec in racy:
            rec.text = None
            self._touch(rec.folder)
            changed = True
        for folder, dir_rec in self._dirs.items():
            read = [r for r in dir_rec.files.values() if r.text is not None]
            if not read:
                continue
            folder_path = os.path.join(self._root, folder)
            # stat() relative to an open folder skips resolving the whole path for every file.
            fd = os.open(folder_path, os.O_RDONLY) if _STAT_DIR_FD else None
            try:
                for rec in read:
                    try:
                        st = (
                            os.stat(rec.name, dir_fd=fd)
                            if fd is not None
                            else os.stat(os.path.join(folder_path, rec.name))
                        )
                    except OSError:
                        # Deleted (or unreadable) since its folder was scanned.
                        rec.text = None
                        dir_rec.racy = True
                        self._touch(folder)
                        changed = True
                        continue
                    if (st.st_size, st.st_ino, st.st_mtime_ns) != (rec.size, rec.ino, rec.mtime_ns):
                        rec.size, rec.ino, rec.mtime_ns = st.st_size, st.st_ino, st.st_mtime_ns
                        rec.text = None
                        self._touch(folder)
                        changed = True
            finally:
                if fd is not None:
                    os.close(fd)
        return changed

    def _refresh_metadata(self) -> bool:
        root = self._dirs.get("")
        if root is None or layout.METADATA_CSV not in root.files:
            changed = bool(self._metadata_rows)
            self._metadata, self._metadata_rows = None, {}
            if changed:
                self._version += 1  # captions only: the entries stand
                self._filters.clear()
            return False
        path = os.path.join(self._root, layout.METADATA_CSV)
        try:
            st = os.stat(path)
        except OSError:
            return False
        rec = self._metadata
        if rec is not None and not rec.racy and rec.holds(st):
            return False
        read_ns = time.time_ns()
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        racy = read_ns - st.st_mtime_ns < RACY_NS
        self._metadata = TextRec(st.st_mtime_ns, st.st_size, st.st_ino, text, racy)
        rows = layout.parse_metadata(text)
        if rows != self._metadata_rows:
            self._metadata_rows = rows
            self._version += 1  # captions only: the entries stand
            self._filters.clear()
        return False

    def _sweep(self) -> bool:
        self._last_sweep = time.monotonic()
        changed = False
        for rel, rec in list(self._dirs.items()):
            if self._watching:
                # Watched folders report their own files' changes, not a link target's.
                for name in list(rec.links):
                    changed = self._apply_file_event(rel, name) or changed
                continue
            for file_rec_ in rec.files.values():
                try:
                    s = os.stat(os.path.join(self._root, rel, file_rec_.name))
                except OSError:
                    rec.racy = True  # gone: let the next walk rescan this folder
                    continue
                if (s.st_size, s.st_mtime_ns) != (file_rec_.size, file_rec_.mtime_ns):
                    file_rec_.size, file_rec_.mtime_ns = s.st_size, s.st_mtime_ns
                    file_rec_.text = None
                    self._touch(rel)
                    changed = True
        return changed

    # -- inotify ----------------------------------------------------------------------------

    def _queue_event(self, folder: str | None, name: str, is_dir: bool) -> None:
        # Called by the watch, from any thread: a deque's append and popleft are atomic.
        self._events.append((folder, name, is_dir))

    def _watch_folder(self, rel: str) -> None:
        """Watch ``rel`` before it is scanned, so no change after the scan goes unseen."""
        if self._watch is None or rel in self._wds:
            return
        try:
            self._wds[rel] = self._watch.add(os.path.join(self._root, rel), rel, self._queue_event)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return  # gone (or swapped for a symlink) meanwhile: its parent says so
            self._stop_watching()  # the watch limit, most likely: check the disk instead

    def _unwatch_folder(self, rel: str) -> None:
        wd = self._wds.pop(rel, None)
        # A renamed folder keeps its watch descriptor under its new name.
        if wd is not None and self._watch is not None and wd not in self._wds.values():
            self._watch.remove(wd, self._queue_event)

    def _stop_watching(self) -> None:
        for rel in list(self._wds):
            self._unwatch_folder(rel)
        self._watch, self._watching = None, False
        self._events.clear()

    def _apply_events(self) -> bool:
        """Apply the queued changes; a changed folder structure (or an overflow) makes the
        caller check the disk instead (``_watching`` False for this refresh)."""
        assert self._watch is not None
        self._watch.drain()
        changed = False
        events = self._events
        while events:
            folder, name, is_dir = events.popleft()
            if folder is None:
                for dir_rec in self._dirs.values():
                    dir_rec.racy = True
                self._last_sweep = 0.0  # sizes rewritten in place: sweep them too
                self._watching = False
            elif is_dir or not name:
                rec = self._dirs.get(folder)
                if rec is not None:
                    rec.racy = True
                else:
                    parent = os.path.dirname(folder)
                    if parent in self._dirs:
                        self._dirs[parent].racy = True
                self._watching = False
            else:
                changed = self._apply_file_event(folder, name) or changed
        return changed

    def _apply_file_event(self, folder: str, name: str) -> bool:
        """Bring the record of ``folder/name`` up to date with the disk; whether it changed."""
        rec = self._dirs.get(folder)
        if rec is None or name.startswith(".") or not _utf8(name):
            return False
        path = os.path.join(self._root, folder, name)
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            st = None
        old = rec.files.get(name)
        fresh: FileRec | None = None
        is_link = st is not None and stat.S_ISLNK(st.st_mode)
        if is_link:
            fresh = self._linked_file(folder, name)
        elif st is not None and stat.S_ISREG(st.st_mode):
            if old is not None and old.ino == st.st_ino and name not in rec.links:
                # Rewritten in place: the same record, so the entries stand.
                if (old.size, old.mtime_ns) == (st.st_size, st.st_mtime_ns) and old.text is None:
                    return False
                old.size, old.mtime_ns, old.text = st.st_size, st.st_mtime_ns, None
                self._touch(folder)
                return True
            fresh = file_rec(folder, name, st.st_size, st.st_ino, st.st_mtime_ns)
        elif st is not None and stat.S_ISDIR(st.st_mode):
            rec.racy = True  # a folder where a file was: the walk takes it from here
            self._watching = False
            return False
        if is_link != (name in rec.links):
            if is_link:
                insort(rec.links, name)
            else:
                rec.links.remove(name)
        if fresh is None:
            if rec.files.pop(name, None) is None:
                return False
        elif old is not None and (old.size, old.ino, old.mtime_ns) == (
            fresh.size,
            fresh.ino,
            fresh.mtime_ns,
        ):
            old.text = None  # a link whose target may have been rewritten
            self._touch(folder)
            return True
        else:
            rec.files[name] = fresh
        self._relayout(folder)
        return True


class _CaptionReader:
    """Reads captions through a descriptor of their folder, walked from the dataset's own
    (``fsroot``): a folder swapped for a symlink to elsewhere since the scan cannot make a
    listing show a file from outside. Entries come sorted by folder, so one folder is held
    open at a time (one walk per folder, not per caption), and only while a page or a chunk
    is rendered."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._folder: str | None = None
        self._slot: Slot | None = None

    def __enter__(self) -> _CaptionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        if self._slot is not None:
            self._slot.close()
        self._folder, self._slot = None, None

    def caption(self, entry: Entry) -> tuple[str, bool]:
        return self._catalog._caption(entry, self)

    def read(self, rec: FileRec) -> tuple[bytes, os.stat_result] | None:
        """The first ``CAPTION_READ_LIMIT`` bytes of ``rec`` and its stat; None if it is gone,
        not a regular file, or outside the dataset now."""
        root = self._catalog._dataset_root()
        if self._folder != rec.folder:
            self._release()
            with contextlib.suppress(DatasetyError, OSError):
                self._slot = root.walk(rec.path, follow_last=False)  # its folder
            self._folder = rec.folder
        if self._slot is None:
            return None
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(rec.name, flags, dir_fd=self._slot.fd)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                return None
            try:  # a symlink: followed by the walk, inside the dataset only
                fd = root.open_file(rec.path)
            except (DatasetyError, OSError):
                return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None  # swapped for a FIFO or a device since the scan
            # The size it has, not the limit: a read of the limit allocates (and faults in)
            # a megabyte per caption. A file grown since its fstat reads as of the fstat;
            # its next check sees the change. (O_NONBLOCK does nothing to a regular file.)
            size = st.st_size if 0 < st.st_size < CAPTION_READ_LIMIT else CAPTION_READ_LIMIT
            # An empty-looking file is read a little first: most are empty (no caption yet).
            data = os.read(fd, size if st.st_size else 65536)
            while 0 < len(data) < size:  # a short read (or the above): read on to the size
                more = os.read(fd, size - len(data))
                if not more:
                    break
                data += more
            return data, st
        finally:
            os.close(fd)


_gc_lock = threading.Lock()
_gc_pausers = 0  # the walks and builds running now (any catalog, any thread)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a scan or a build makes records and entries
    by the hundred thousand (none of them in a cycle): each collection would walk every one
    made so far, ~15% of a first listing's CPU at 100,000 files, more at a million. When the
    pause made more than ``FREEZE_FROM`` objects, they are frozen (``gc.freeze``): no later
    collection walks them either (a full one over a million files' records takes 0.3 s, which
    would land on some page request). Records die by reference counting all the same."""
    global _gc_pausers
    with _gc_lock:
        if _gc_pausers == 0 and not gc.isenabled():
            paused_by_someone_else = True
        else:
            paused_by_someone_else = False
            _gc_pausers += 1
            gc.disable()
    if paused_by_someone_else:
        yield  # disabled by the program itself (a test, a profiler): left as it is
        return
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0:
                if gc.get_count()[0] > FREEZE_FROM:
                    gc.freeze()
                gc.enable()


@functools.cache
def _caption_pool() -> ThreadPoolExecutor:
    """One thread that reads captions beside a streaming listing, shared by every catalog."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="datasety-captions")


def _size_json(size: Size | None) -> str:
    if size is None:
        return ',"width":null,"height":null'
    return f',"width":{size[0]},"height":{size[1]}'


def _differs(old: DirRec | None, new: DirRec) -> bool:
    if old is None:
        return True
    if old.subdirs != new.subdirs or old.files.keys() != new.files.keys():
        return True
    return any(new.files[name] is not rec for name, rec in old.files.items())


class Catalogs:
    """The catalog of every dataset in use, by dataset id (and thumbnails' cache folder)."""

    def __init__(self, thumbs_dir: Path, bodies_dir: Path | None = None, watch: bool = True):
        self.thumbs_dir = thumbs_dir
        self._bodies_dir = bodies_dir
        if bodies_dir is not None:
            clear_folder(bodies_dir)
        self._lock = threading.Lock()
        self._catalogs: dict[str, Catalog] = {}
        # One inotify descriptor for every catalog, opened with the first one.
        self._use_watch = watch
        self._watch: FolderWatch | None = None

    def get(self, dataset_id: str, root: Path) -> Catalog:
        with self._lock:
            catalog = self._catalogs.get(dataset_id)
            if catalog is None or catalog.root != root:
                if catalog is not None:
                    catalog.close()
                if self._use_watch and self._watch is None:
                    self._watch = FolderWatch.open()
                    self._use_watch = self._watch is not None
                cache = BodyCache(self._bodies_dir, dataset_id)
                catalog = self._catalogs[dataset_id] = Catalog(root, self._watch, cache)
            return catalog

    def peek(self, dataset_id: str) -> Catalog | None:
        """The catalog if one exists (writes update it; they never create one)."""
        with self._lock:
            return self._catalogs.get(dataset_id)

    def forget(self, dataset_id: str) -> None:
        with self._lock:
            catalog = self._catalogs.pop(dataset_id, None)
        if catalog is not None:
            catalog.close()

    def close(self) -> None:
        """Forget every catalog and close the watch (at shutdown)."""
        with self._lock:
            catalogs, self._catalogs = list(self._catalogs.values()), {}
            watch, self._watch = self._watch, None
        for catalog in catalogs:
            catalog.close()
        if watch is not None:
            watch.close()
