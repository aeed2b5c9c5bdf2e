"""Sort orders of a listing (``?sort=...&order=...``), as pure functions over entries.

Each order is a key on an entry; entries the key knows nothing of (no image for ``width``)
sort last in either direction, and ties keep the listing's own order (folder, base name).
"""

from __future__ import annotations

from collections.abc import Callable

from datasety.server.catalog.dimensions import Size
from datasety.server.catalog.listing import Entry, FileRec

SORTS = ("name", "size", "width", "height", "aspect", "mtime", "caption_length")
# Orders that need each entry's image size.
SIZE_SORTS = frozenset({"width", "height", "aspect"})

Key = float | str | None


def first_image(entry: Entry) -> FileRec | None:
    """The image whose size an entry shows: a pair's target, else its first image."""
    images = [f for f in entry if f.kind == "image"]
    if not images:
        return None
    return next((f for f in images if f.file_type == "target"), images[0])


def sort_entries(
    entries: list[Entry],
    sort: str,
    descending: bool,
    caption_of: Callable[[Entry], str],
    size_of: Callable[[Entry], Size | None],
) -> list[Entry]:
    """``entries`` ordered by ``sort`` (one of :data:`SORTS`), a new list."""
    key = _key_function(sort, caption_of, size_of)
    keyed = [(key(e), e) for e in entries]
    known = [pair for pair in keyed if pair[0] is not None]
    unknown = [e for k, e in keyed if k is None]
    # sorted() is stable, and reverse=True keeps ties in their order too.
    known.sort(key=lambda pair: pair[0], reverse=descending)  # type: ignore[arg-type, return-value]
    return [e for _, e in known] + unknown


def _key_function(
    sort: str, caption_of: Callable[[Entry], str], size_of: Callable[[Entry], Size | None]
) -> Callable[[Entry], Key]:
    if sort == "name":
        return lambda e: e.base.lower() + "\0" + e.path.lower()
    if sort == "size":
        return lambda e: float(sum(f.size for f in e if f.file_type != "caption"))
    if sort == "mtime":
        # The media's time: a caption edited today does not make an old photo new.
        return lambda e: float(max((f.mtime_ns for f in e if f.file_type != "caption"), default=0))
    if sort == "caption_length":
        return lambda e: float(len(caption_of(e)))

    def by_size(entry: Entry) -> Key:
        size = size_of(entry)
        if size is None or not size[1]:
            return None
        width, height = size
        return float(width if sort == "width" else height if sort == "height" else width / height)

    return by_size
