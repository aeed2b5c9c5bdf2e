"""Filtered listings (``q``, ``missing=caption``, media only) computed folder by folder, and
kept per folder until that folder changes.

A listing's entries lie in folders ("parts": the entries whose ``path`` is one folder, in the
listing's order). A filter's result is the concatenation of each part's result, so a change in
one folder costs that folder's part again, not the dataset; and a search first asks each part
with one C-level ``in`` over its names and captions joined, so the entry-by-entry check runs
only in the parts that can hold a match.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING

from datasety.core import layout
from datasety.server.first_scan import is_role_folder
from datasety.server.listing import Entry

if TYPE_CHECKING:
    from datasety.server.catalog import DirRec

_TEXT = attrgetter("text")
CAPTION_LINE = layout.CAPTION_EXTENSION + "\n"

# (q lower-cased, missing caption, media only)
FilterKey = tuple[str, bool, bool]
# Filters whose per-folder results are kept (a gallery uses one or two at a time).
FILTERS_KEPT = 8


class FilterCache:
    """Per filter and folder: the part it was computed on, the folder's generation then, and
    the result. A result holds while the part is the same list and the folder has not been
    touched (a file of it changed in place: a size, a caption's text) since."""

    def __init__(self) -> None:
        self._kept: dict[FilterKey, dict[str, tuple[list[Entry], int, list[Entry]]]] = {}

    def get(self, key: FilterKey, path: str, part: list[Entry], touched: int) -> list[Entry] | None:
        found = self._kept.get(key, {}).get(path)
        if found is None or found[0] is not part or found[1] < touched:
            return None
        return found[2]

    def put(
        self, key: FilterKey, path: str, part: list[Entry], generation: int, result: list[Entry]
    ) -> None:
        kept = self._kept.get(key)
        if kept is None:
            if len(self._kept) >= FILTERS_KEPT:
                del self._kept[next(iter(self._kept))]
            kept = self._kept[key] = {}
        kept[path] = (part, generation, result)

    def forget(self, paths: set[str]) -> None:
        """The parts of ``paths`` were rebuilt or removed: their results go (not kept alive)."""
        for kept in self._kept.values():
            for path in paths:
                kept.pop(path, None)

    def clear(self) -> None:
        self._kept.clear()


def part_folders(path: str, dirs: dict[str, DirRec]) -> list[str]:
    """The folders whose files make the entries of ``path``: it and its role folders."""
    rec = dirs.get(path)
    if rec is None:
        return []
    return [path, *(d for d in rec.subdirs if is_role_folder(d) and d in dirs)]


def may_match(needle: str, path: str, dirs: dict[str, DirRec]) -> bool:
    """Whether an entry of folder ``path`` can match the search ``needle`` (lower-case) by a
    file path or a ``.txt`` caption: False only when none can. An entry matches by a path or
    a caption (its base and file names are parts of its paths), so the folder names, the file
    names and the caption texts joined hold every match. Unread captions answer True (the
    entry-by-entry check reads them). Joins, counts and ``in`` run in C: a few nanoseconds a
    file, so a new search over a million files is not a million Python steps."""
    if "/" in needle:
        return True  # may span a folder and a name: not worth spelling out
    for folder in part_folders(path, dirs):
        if needle in folder.lower():
            return True
        files = dirs[folder].files
        names = "\n".join(files).lower() + "\n"
        if needle in names:
            return True
        texts = list(map(_TEXT, files.values()))  # None for unread captions and other files
        captions = names.count(CAPTION_LINE)  # names ending in .txt: the caption files
        if captions != len(texts) - texts.count(None):
            return True
        if needle in "\n".join(filter(None, texts)).lower():
            return True
    return False
