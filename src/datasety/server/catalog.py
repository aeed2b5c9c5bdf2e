"""Fast, cached dataset listings that still see what other programs change.

Per dataset, a :class:`Catalog` keeps the scan of every folder keyed by the folder's mtime and
inode (adding, removing or renaming an entry changes its folder's mtime), the text of every
caption keyed by its (mtime, size, inode), and the listing's JSON once per version. A warm
listing therefore costs one ``stat`` per folder and per caption file, then a cached body.

Freshness, where inotify sees every change (Linux, a local file system; see
:mod:`datasety.server.watch`): every folder is watched, and a listing applies the events queued
since the last one (each names the folder and entry that changed), so a warm listing touches
nothing on disk. A queue overflow or a changed folder falls back to the checks below once.

Freshness elsewhere (and for the first scan):

* added, removed, renamed or atomically replaced files: seen by the next listing (their folder
  changed; a replaced file has a new inode, so only it is stat'ed again);
* captions edited in place: seen by the next listing (every caption is stat'ed);
* an mtime within ``RACY_NS`` of the moment it was read is not trusted (file systems have
  coarse timestamps), so that folder or caption is read again next time;
* other files rewritten in place (same inode, same folder entries): their ``size_bytes`` is
  refreshed by a sweep at most every ``SWEEP_SECONDS`` (with inotify: only symlinks, whose
  targets may change without an event in the symlink's folder).
"""

from __future__ import annotations

import gzip
import os
import stat
import threading
import time
from array import array
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from datasety import layout
from datasety.server.listing import (
    CAPTION_READ_LIMIT,
    Entry,
    FileItem,
    build_entries,
    dumps,
    file_item,
)
from datasety.server.watch import FolderWatch, watchable

RACY_NS = 2_000_000_000
SWEEP_SECONDS = 10.0


@dataclass(slots=True)
class FileRec:
    size: int
    ino: int
    mtime_ns: int


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
    # The (mtime, size, inode) it was read at, as fields: no tuple kept per caption.
    mtime_ns: int
    size: int
    ino: int
    text: str
    racy: bool

    def holds(self, st: os.stat_result) -> bool:
        """Whether ``st`` is the state the text was read at."""
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

    @property
    def is_plain(self) -> bool:
        # ``limit=0`` is a real page (no entries, just the total): only None means "all".
        paged = self.limit is not None or self.offset
        return not (self.folder or self.q or self.missing_caption or paged)


@dataclass(slots=True)
class _Rendered:
    """A full listing body and where each entry's JSON lies in it.

    The body is the only copy of the entries' JSON: a later rebuild slices an unchanged
    entry's fragment out of it instead of keeping every fragment as a string of its own.
    """

    entries: list[Entry]
    body: bytes
    # starts[i]: offset of entry i's fragment; starts[i + 1] - 1 is its end (a comma follows).
    starts: array[int]

    def fragment(self, i: int) -> bytes:
        return self.body[self.starts[i] : self.starts[i + 1] - 1]


@dataclass
class _Cache:
    version: int = -1
    entries: list[Entry] = field(default_factory=list)
    # The last full body per mode (False: files, True: pairs), of this version or an older one.
    rendered: dict[bool, _Rendered] = field(default_factory=dict)
    # The gzip-compressed full body per mode, of this version only.
    packed: dict[bool, bytes] = field(default_factory=dict)


# Windows cannot stat relative to a folder descriptor.
_STAT_DIR_FD = os.stat in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


class Catalog:
    """The cached listing of one dataset folder (``root`` resolved). Thread-safe."""

    def __init__(self, root: Path, watch: FolderWatch | None = None) -> None:
        self.root = root
        self._root = str(root)
        self._lock = threading.Lock()
        # inotify, once every folder is watched (``_watching``); None: check the disk.
        self._watch = watch if watch is not None and watchable(root) else None
        self._watching = False
        self._wds: dict[str, int] = {}
        self._events: deque[tuple[str | None, str, bool]] = deque()
        self._dirs: dict[str, DirRec] = {}
        # Caption texts by folder, then file name (stat'ed folder by folder on every listing).
        self._captions: dict[str, dict[str, TextRec]] = {}
        self._metadata: TextRec | None = None
        self._metadata_rows: dict[str, str] = {}
        self._items: dict[str, FileItem] = {}
        self._version = 0
        self._last_sweep = time.monotonic()
        self._cache = _Cache()

    # -- public -----------------------------------------------------------------------------

    def listing(self, query: Query, gzipped: bool = False) -> tuple[bytes, bool]:
        """The JSON body of a listing (``{"files": [...]}`` or ``{"pairs": [...]}``, with
        ``total``) and whether it is gzip-compressed: the full listing, asked for with
        ``gzipped``, is compressed once per version."""
        with self._lock:
            self._refresh()
            if not query.is_plain:
                return self._render(self._select(query), query), False
            body = self._full_body(self._entries(), query.group)
            if not gzipped:
                return body, False
            packed = self._cache.packed.get(query.group)
            if packed is None:
                packed = self._cache.packed[query.group] = gzip.compress(body, 1, mtime=0)
            return packed, True

    def note_write(self, rel: str) -> None:
        """The server itself wrote ``rel``: record its new state without waiting for a scan."""
        path = os.path.join(self._root, rel)
        with self._lock:
            folder, name = os.path.split(rel)
            rec = self._dirs.get(folder)
            try:
                st = os.stat(path)
            except OSError:
                return
            if rec is not None:
                rec.files[name] = FileRec(st.st_size, st.st_ino, st.st_mtime_ns)
            if layout.extension(name) == layout.CAPTION_EXTENSION:
                self._captions.setdefault(folder, {})[name] = self._read_text(path, st)
            self._version += 1

    def note_delete(self, rel: str) -> None:
        """The server itself deleted ``rel``."""
        with self._lock:
            folder, name = os.path.split(rel)
            rec = self._dirs.get(folder)
            if rec is not None:
                rec.files.pop(name, None)
            self._captions.get(folder, {}).pop(name, None)
            self._version += 1

    # -- freshness --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop watching this dataset's folders."""
        with self._lock:
            self._stop_watching()

    def _refresh(self) -> None:
        changed = self._apply_events() if self._watching else False
        if not self._watching:
            changed = self._walk() or changed
            changed = self._refresh_captions() or changed
        changed = self._refresh_metadata() or changed
        if time.monotonic() - self._last_sweep > SWEEP_SECONDS:
            changed = self._sweep() or changed
        # Every folder has a watch now (unless adding one failed): events from here on.
        self._watching = self._watch is not None
        if changed:
            self._version += 1

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
        except OSError:
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
        if st is not None and stat.S_ISLNK(st.st_mode):
            try:
                fresh = self._linked_file(path)
            except OSError:
                fresh = None
        elif st is not None and stat.S_ISREG(st.st_mode):
            fresh = FileRec(st.st_size, st.st_ino, st.st_mtime_ns)
        elif st is not None and stat.S_ISDIR(st.st_mode):
            rec.racy = True  # a folder where a file was: the walk takes it from here
            self._watching = False
            return False
        is_link = st is not None and stat.S_ISLNK(st.st_mode)
        if is_link != (name in rec.links):
            if is_link:
                insort(rec.links, name)
            else:
                rec.links.remove(name)
        texts = self._captions.get(folder)
        is_caption = fresh is not None and layout.extension(name) == layout.CAPTION_EXTENSION
        if fresh is None:
            rec.files.pop(name, None)
            if texts is not None:
                texts.pop(name, None)
            return old is not None
        rec.files[name] = fresh
        changed = old is None or old.size != fresh.size
        if is_caption:
            # Read again whatever its stat says: an edit within the clock's granularity that
            # keeps the size would look unchanged.
            known = texts.get(name) if texts is not None else None
            try:
                text = self._read_text(path, os.stat(path))  # a symlink's target
            except OSError:
                return True
            self._captions.setdefault(folder, {})[name] = text
            changed = changed or known is None or known.text != text.text
        return changed

    def _walk(self) -> bool:
        changed = False
        seen: set[str] = set()
        pending = [""]
        while pending:
            rel = pending.pop()
            try:
                st = os.stat(os.path.join(self._root, rel), follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                continue
            rec = self._dirs.get(rel)
            if rec is None or rec.racy or rec.mtime_ns != st.st_mtime_ns or rec.ino != st.st_ino:
                fresh = self._scan(rel, st, rec)
                if fresh is None:
                    continue
                changed = changed or _differs(rec, fresh)
                self._dirs[rel] = rec = fresh
            seen.add(rel)
            pending.extend(rec.subdirs)
        gone = [rel for rel in self._dirs if rel not in seen]
        for rel in gone:
            del self._dirs[rel]
            self._unwatch_folder(rel)
        if changed or gone:
            self._sync_captions()
            return True
        return False

    def _scan(self, rel: str, st: os.stat_result, old: DirRec | None) -> DirRec | None:
        self._watch_folder(rel)
        scanned_ns = time.time_ns()
        old_files = old.files if old else {}
        files: dict[str, FileRec] = {}
        subdirs: list[str] = []
        links: list[str] = []
        try:
            with os.scandir(os.path.join(self._root, rel)) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith(".") or not _utf8(name):
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            subdirs.append(_join(rel, name))
                        elif entry.is_symlink():
                            linked = self._linked_file(entry.path)
                            if linked is not None:
                                files[name] = linked
                                links.append(name)
                        elif entry.is_file(follow_symlinks=False):
                            prev = old_files.get(name)
                            ino = entry.inode()
                            if prev is None or prev.ino != ino:
                                s = entry.stat(follow_symlinks=False)
                                prev = FileRec(s.st_size, ino, s.st_mtime_ns)
                            files[name] = prev
                    except OSError:
                        continue  # removed while we looked: the next scan agrees
        except OSError:
            return None
        racy = scanned_ns - st.st_mtime_ns < RACY_NS
        return DirRec(st.st_mtime_ns, st.st_ino, racy, files, sorted(subdirs), sorted(links))

    def _linked_file(self, path: str) -> FileRec | None:
        # A symlink is listed only if it is a file inside the dataset: never a way out.
        try:
            target = Path(path).resolve()
        except RuntimeError:
            return None  # a symlink loop (pathlib raises RuntimeError): nothing to list
        if not target.is_relative_to(self.root):
            return None
        s = os.stat(target)
        return FileRec(s.st_size, s.st_ino, s.st_mtime_ns) if stat.S_ISREG(s.st_mode) else None

    def _sync_captions(self) -> None:
        """Track exactly the ``.txt`` files the folders hold (keeping known texts)."""
        synced: dict[str, dict[str, TextRec]] = {}
        for rel, rec in self._dirs.items():
            known = self._captions.get(rel, {})
            names = [n for n in rec.files if layout.extension(n) == layout.CAPTION_EXTENSION]
            if names:
                synced[rel] = {n: known.get(n) or TextRec(-1, -1, -1, "", True) for n in names}
        self._captions = synced

    def _refresh_captions(self) -> bool:
        changed = False
        for folder, texts in self._captions.items():
            changed = self._refresh_folder_captions(folder, texts) or changed
        return changed

    def _refresh_folder_captions(self, folder: str, texts: dict[str, TextRec]) -> bool:
        changed = False
        folder_path = os.path.join(self._root, folder)
        # stat() relative to an open folder skips resolving the whole path for every file.
        fd = os.open(folder_path, os.O_RDONLY) if _STAT_DIR_FD else None
        try:
            # No copy of the items per listing: a gone caption is dropped after the loop
            # (replacing a value while iterating is safe; removing a key is not).
            gone: list[str] = []
            for name, rec in texts.items():
                try:
                    st = (
                        os.stat(name, dir_fd=fd)
                        if fd is not None
                        else os.stat(os.path.join(folder_path, name))
                    )
                except OSError:
                    # Deleted (or unreadable) since its folder was scanned.
                    gone.append(name)
                    dir_rec = self._dirs.get(folder)
                    if dir_rec is not None:
                        dir_rec.files.pop(name, None)
                        dir_rec.racy = True
                    changed = True
                    continue
                if rec.racy or not rec.holds(st):
                    fresh = texts[name] = self._read_text(os.path.join(folder_path, name), st)
                    file_rec = self._dirs[folder].files.get(name) if folder in self._dirs else None
                    if file_rec is not None and file_rec.size != st.st_size:
                        file_rec.size = st.st_size
                        changed = True
                    changed = changed or fresh.text != rec.text
            for name in gone:
                del texts[name]
        finally:
            if fd is not None:
                os.close(fd)
        return changed

    def _caption_texts(self) -> dict[str, str]:
        return {
            _join(folder, name): rec.text
            for folder, texts in self._captions.items()
            for name, rec in texts.items()
        }

    def _refresh_metadata(self) -> bool:
        root = self._dirs.get("")
        if root is None or layout.METADATA_CSV not in root.files:
            changed = bool(self._metadata_rows)
            self._metadata, self._metadata_rows = None, {}
            return changed
        path = os.path.join(self._root, layout.METADATA_CSV)
        try:
            st = os.stat(path)
        except OSError:
            return False
        rec = self._metadata
        if rec is not None and not rec.racy and rec.holds(st):
            return False
        self._metadata = self._read_text(path, st, limit=None)
        rows = layout.parse_metadata(self._metadata.text)
        changed = rows != self._metadata_rows
        self._metadata_rows = rows
        return changed

    def _sweep(self) -> bool:
        self._last_sweep = time.monotonic()
        changed = False
        for rel, rec in list(self._dirs.items()):
            if self._watching:
                # Watched folders report their own files' changes, not a link target's.
                for name in list(rec.links):
                    changed = self._apply_file_event(rel, name) or changed
                continue
            for name, file_rec in rec.files.items():
                try:
                    s = os.stat(os.path.join(self._root, rel, name))
                except OSError:
                    rec.racy = True  # gone: let the next walk rescan this folder
                    continue
                if (s.st_size, s.st_mtime_ns) != (file_rec.size, file_rec.mtime_ns):
                    file_rec.size, file_rec.mtime_ns = s.st_size, s.st_mtime_ns
                    changed = True
        return changed

    @staticmethod
    def _read_text(
        path: str, st: os.stat_result, limit: int | None = CAPTION_READ_LIMIT
    ) -> TextRec:
        read_ns = time.time_ns()
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit if limit is not None else -1)
        except OSError:
            data = b""
        racy = read_ns - st.st_mtime_ns < RACY_NS
        text = data.decode("utf-8", "replace")
        return TextRec(st.st_mtime_ns, st.st_size, st.st_ino, text, racy)

    # -- rendering --------------------------------------------------------------------------

    def _files(self, folder: str = "") -> list[tuple[str, int]]:
        prefix = folder + "/" if folder else ""
        found: list[tuple[str, int]] = []
        for rel, rec in self._dirs.items():
            if folder and rel != folder and not rel.startswith(prefix):
                continue
            found.extend((_join(rel, name), f.size) for name, f in rec.files.items())
        return found

    def _build(self, files: list[tuple[str, int]], whole: bool = False) -> list[Entry]:
        # Items are reused while a file's size holds: cheap rebuilds, identity comparisons.
        known = self._items
        items: dict[str, FileItem] = {}
        shared: dict[tuple[str, str], tuple[str, str]] = {}
        for path, size in files:
            item = known.get(path)
            if item is None or item.size_bytes != size:
                item = file_item(path, size, shared)
            items[path] = item
        if whole:
            self._items = items
        return build_entries(items.values(), self._caption_texts(), self._metadata_rows)

    def _entries(self) -> list[Entry]:
        cache = self._cache
        if cache.version != self._version:
            cache.version = self._version
            cache.entries = self._build(self._files(), whole=True)
            for pos, entry in enumerate(cache.entries):
                entry.pos = pos
            cache.packed = {}
        return cache.entries

    def _select(self, query: Query) -> list[Entry]:
        entries = self._build(self._files(query.folder)) if query.folder else self._entries()
        if query.missing_caption:
            entries = [e for e in entries if e.has_media and not e.caption]
        if query.q:
            needle = query.q.lower()
            entries = [e for e in entries if e.matches(needle)]
        return entries

    def _render(self, entries: list[Entry], query: Query) -> bytes:
        total = len(entries)
        end = None if query.limit is None else query.offset + query.limit
        page = entries[query.offset : end]
        rendered = self._cache.rendered.get(query.group)
        fragments = b",".join(self._fragment(e, query.group, rendered) for e in page)
        return _head(query.group) + fragments + _tail(total)

    def _full_body(self, entries: list[Entry], pair: bool) -> bytes:
        """The whole listing of ``entries`` (the current version), rendered once."""
        old = self._cache.rendered.get(pair)
        if old is not None and old.entries is entries:
            return old.body
        head = _head(pair)
        parts = [head]
        starts = array("q")
        offset = len(head)
        for entry in entries:
            fragment = self._fragment(entry, pair, old)
            starts.append(offset)
            offset += len(fragment) + 1
            parts.append(fragment)
            parts.append(b",")
        starts.append(offset)
        if entries:
            parts.pop()  # no comma after the last fragment
        parts.append(_tail(len(entries)))
        body = b"".join(parts)
        self._cache.rendered[pair] = _Rendered(entries, body, starts)
        return body

    def _fragment(self, entry: Entry, pair: bool, rendered: _Rendered | None) -> bytes:
        if rendered is not None:
            known = rendered.entries
            pos = entry.pos
            if not (0 <= pos < len(known) and known[pos] is entry):
                pos = bisect_left(known, entry.key, key=_entry_key)
            if pos < len(known):
                other = known[pos]
                if other is entry or (
                    other.key == entry.key and other.signature() == entry.signature()
                ):
                    return rendered.fragment(pos)
        return dumps(entry.pair_json() if pair else entry.to_json()).encode()


def _head(pair: bool) -> bytes:
    return b'{"pairs":[' if pair else b'{"files":['


def _tail(total: int) -> bytes:
    return b'],"total":%d}' % total


def _entry_key(entry: Entry) -> tuple[str, str]:
    return entry.key


def _differs(old: DirRec | None, new: DirRec) -> bool:
    if old is None:
        return True
    if old.subdirs != new.subdirs or old.files.keys() != new.files.keys():
        return True
    return any(new.files[name] is not rec for name, rec in old.files.items())


class Catalogs:
    """The catalog of every dataset in use, by dataset id (and thumbnails' cache folder)."""

    def __init__(self, thumbs_dir: Path, watch: bool = True) -> None:
        self.thumbs_dir = thumbs_dir
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
                catalog = self._catalogs[dataset_id] = Catalog(root, self._watch)
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
