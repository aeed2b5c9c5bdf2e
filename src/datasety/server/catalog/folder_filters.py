"""Filtered listings (``q``, ``missing=caption``, media only) computed folder by folder, and
kept per folder until that folder changes.

A listing's entries lie in folders ("parts": the entries whose ``path`` is one folder, in the
listing's order). A filter's result is the concatenation of each part's result, so a change in
one folder costs that folder's part again, not the dataset; and a search first asks each part
with one C-level ``in`` over its names and captions joined, so the entry-by-entry check runs
only in the parts that can hold a match.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING

from datasety.core import layout
from datasety.server.catalog.first_scan import is_role_folder
from datasety.server.catalog.listing import Entry

if TYPE_CHECKING:
    from datasety.server.catalog.catalogs import DirRec

_TEXT = attrgetter("text")
CAPTION_LINE = layout.CAPTION_EXTENSION + "\n"

# (q lower-cased, missing caption, media only)
FilterKey = tuple[str, bool, bool]
# Filters whose per-folder results are kept (a gallery uses one or two at a time).
FILTERS_KEPT = 8
# Search texts kept, in characters: every folder's at 100,000 files with short captions (3.8 M
# in bench_catalog's), a tenth of them at a million (the catalog's memory budget there, 400 MB,
# leaves no room for ~40 M more).
SEARCH_TEXT_BYTES = 4_000_000


class FilterCache:
    """Per filter and folder: the build of the part it was computed on (a serial the catalog
    gives each build of a folder's entries), the folder's generation then, and the result. A
    result holds while the part is the same build and the folder has not been touched (a file
    of it changed in place: a size, a caption's text) since."""

    def __init__(self) -> None:
        self._kept: dict[FilterKey, dict[str, tuple[int, int, list[Entry]]]] = {}
        # Per folder, its search text (see search_text), and their length in all.
        self._texts: dict[str, tuple[int, int, str]] = {}
        self._text_bytes = 0

    def get(self, key: FilterKey, path: str, build: int, touched: int) -> list[Entry] | None:
        found = self._kept.get(key, {}).get(path)
        if found is None or found[0] != build or found[1] < touched:
            return None
        return found[2]

    def put(
        self, key: FilterKey, path: str, build: int, generation: int, result: list[Entry]
    ) -> None:
        kept = self._kept.get(key)
        if kept is None:
            if len(self._kept) >= FILTERS_KEPT:
                del self._kept[next(iter(self._kept))]
            kept = self._kept[key] = {}
        kept[path] = (build, generation, result)

    def search_text(
        self, path: str, build: int, touched: int, generation: int, dirs: dict[str, DirRec]
    ) -> str | None:
        """:func:`search_text` of ``path``, kept while it holds and ``SEARCH_TEXT_BYTES``
        allow (the first folders asked keep theirs: no eviction that a walk over every folder
        would turn into a miss each time)."""
        found = self._texts.get(path)
        if found is not None and found[0] == build and found[1] >= touched:
            return found[2]
        if found is not None:
            del self._texts[path]
            self._text_bytes -= len(found[2])
        text = search_text(path, dirs)
        if text is not None and self._text_bytes + len(text) <= SEARCH_TEXT_BYTES:
            self._texts[path] = (build, generation, text)
            self._text_bytes += len(text)
        return text

    def forget(self, paths: set[str]) -> None:
        """The parts of ``paths`` were rebuilt or removed: their results go (not kept alive)."""
        for kept in self._kept.values():
            for path in paths:
                kept.pop(path, None)
        for path in paths:
            text = self._texts.pop(path, None)
            if text is not None:
                self._text_bytes -= len(text[2])

    def clear(self) -> None:
        self._kept.clear()
        self._texts.clear()
        self._text_bytes = 0


def part_folders(path: str, dirs: dict[str, DirRec]) -> list[str]:
    """The folders whose files make the entries of ``path``: it and its role folders."""
    rec = dirs.get(path)
    if rec is None:
        return []
    return [path, *(d for d in rec.subdirs if is_role_folder(d) and d in dirs)]


def search_text(path: str, dirs: dict[str, DirRec]) -> str | None:
    """What a search over folder ``path``'s entries can match, lower-case, joined: its folder
    names, file names and caption texts (an entry matches by a file path or its caption, and
    its base and file names are parts of its paths); None while a caption is unread. Joins,
    counts and lower() run in C: a few nanoseconds a file."""
    pieces: list[str] = []
    for folder in part_folders(path, dirs):
        files = dirs[folder].files
        names = "\n".join(files).lower() + "\n"
        texts = list(map(_TEXT, files.values()))  # None for unread captions and other files
        captions = names.count(CAPTION_LINE)  # names ending in .txt: the caption files
        if captions != len(texts) - texts.count(None):
            return None
        pieces += (folder.lower(), names, "\n".join(filter(None, texts)).lower())
    return "\n".join(pieces)


def may_match(needle: str, text: str | None) -> bool:
    """Whether an entry can match ``needle`` (lower-case) where :func:`search_text` is
    ``text``: False only when none can."""
    # A needle with "/" may span a folder and a name: not worth spelling out.
    return text is None or "/" in needle or needle in text


def lacking_caption(entries: list[Entry], metadata: dict[str, str]) -> list[Entry]:
    """The media ``entries`` without a caption (Entry.lacks_caption), the common entry (a
    file and its own caption of some bytes) ruled out in one expression, not a call."""
    maybe = [e for e in entries if len(e) != 2 or e[1].file_type != "caption" or not e[1].size]
    return [e for e in maybe if e.lacks_caption(metadata)]


def searched(entries: list[Entry], needle: str, caption_of: Callable[[Entry], str]) -> list[Entry]:
    """The ``entries`` that match ``needle`` (Entry.matches with ``caption_of``'s caption), the
    common entry (a file and its own caption, read) checked in one expression, not calls."""
    found: list[Entry] = []
    for e in entries:
        if len(e) == 2:
            first, last = e
            text = last.text
            if text is not None and last.file_type == "caption" and first.file_type != "caption":
                if (
                    needle in text.lower()
                    or needle in first.path.lower()
                    or needle in last.path.lower()
                ):
                    found.append(e)
                continue
        if e.matches(needle, caption_of(e)):
            found.append(e)
    return found
