"""Listing entries from a dataset's files, as pure functions (no disk access).

Files are grouped by :func:`datasety.layout.placement` (folder + base name); a ``.txt`` joins
the group of the file it is the sidecar of. An entry's caption is its group's ``.txt`` or, for
audio without one, the file's ``metadata.csv`` row.
"""

from __future__ import annotations

import json
import posixpath
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

from datasety import layout

PAIR_ROLES = (*layout.ROLES, "image")
# A caption is text for a person to read: more than this is not read into memory.
CAPTION_READ_LIMIT = 1024 * 1024
_ROLE_RANK = {role: rank for rank, role in enumerate(layout.ROLES)}
MEDIA_KINDS = frozenset({"image", "audio", "video"})


@dataclass(slots=True)
class FileItem:
    """One file of a listing (the spec's ``files[]`` element) and where it belongs.

    Items are immutable by convention and reused while a file's size is unchanged, so
    comparing two listings' items is mostly an identity check.
    """

    path: str
    name: str
    size_bytes: int
    extension: str
    file_type: str
    kind: str
    group: tuple[str, str]  # (folder, base) of its group
    stem_key: tuple[str, str]  # (folder, stem): where its own sidecar would be

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "name": self.name,
            "size_bytes": self.size_bytes,
            "extension": self.extension,
            "file_type": self.file_type,
        }


def file_item(
    path: str, size: int, shared: dict[tuple[str, str], tuple[str, str]] | None = None
) -> FileItem:
    """The listing item of the file at dataset path ``path``.

    Items made with the same ``shared`` dict share their equal stem keys (``a.jpg`` and its
    ``a.txt``), so a big dataset keeps one such key per stem, not one per file.
    """
    folder, name = posixpath.split(path)
    stem, ext = posixpath.splitext(name)
    kind = layout.file_kind(name)
    where = layout.placement(path)
    # A dataset holds many items: equal strings and tuples are shared, not kept per item
    # (extensions are few; most files are their own group, so its key is the stem key).
    stem_key = (folder, stem)
    if shared is not None:
        stem_key = shared.setdefault(stem_key, stem_key)
    group = (where.group_dir, where.base)
    if group == stem_key:
        group = stem_key
    return FileItem(
        path,
        name,
        size,
        sys.intern(ext.lower()),
        where.role or kind,
        kind,
        group,
        stem_key,
    )


@dataclass(slots=True)
class Entry:
    """One group of files: the spec's listing entry."""

    base: str
    path: str
    files: tuple[FileItem, ...]  # a tuple: a list's spare room, per entry, adds up
    caption: str = ""
    caption_path: str = ""
    caption_source: str = ""
    _haystack: str | None = field(default=None, repr=False)
    # Its index in the catalog's cached list of all entries (-1: not in it).
    pos: int = field(default=-1, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, self.base)

    @property
    def name(self) -> str:
        return self.files[0].name

    @property
    def has_media(self) -> bool:
        return any(f.kind in MEDIA_KINDS for f in self.files)

    def signature(self) -> tuple[object, ...]:
        """Everything the JSON depends on, to reuse a cached fragment."""
        return (self.files, self.caption, self.caption_path, self.caption_source)

    def matches(self, needle: str) -> bool:
        """Case-insensitive ``needle`` (already lower-case) in a file name or the caption."""
        if self._haystack is None:
            names = "\n".join(f.name for f in self.files)
            self._haystack = f"{self.base}\n{names}\n{self.caption}".lower()
        return needle in self._haystack

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "base": self.base,
            "name": self.name,
            "path": self.path,
            "files": [f.to_json() for f in self.files],
            "caption": self.caption,
            "caption_path": self.caption_path,
        }
        if self.caption_source:
            out["caption_source"] = self.caption_source
        return out

    def pair_json(self) -> dict[str, object]:
        out: dict[str, object] = {"base": self.base, "path": self.path}
        for role in PAIR_ROLES:
            out[role] = next((f.path for f in self.files if f.file_type == role), None)
        out["caption"] = self.caption
        out["caption_path"] = self.caption_path
        out["all_files"] = [f.to_json() for f in self.files]
        return out


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _order(item: FileItem) -> tuple[bool, int, str]:
    return (item.kind == "caption", _ROLE_RANK.get(item.file_type, len(_ROLE_RANK)), item.path)


def build_entries(
    items: Iterable[FileItem], captions: dict[str, str], metadata: dict[str, str]
) -> list[Entry]:
    """Group file items into entries sorted by folder and base name.

    ``captions`` maps every ``.txt`` path to its text, ``metadata`` the ``metadata.csv`` rows
    (id -> text).
    """
    groups: dict[tuple[str, str], list[FileItem]] = {}
    sidecars: list[FileItem] = []
    owner: dict[tuple[str, str], tuple[str, str]] = {}
    for item in items:
        if item.kind == "caption":
            sidecars.append(item)
            continue
        groups.setdefault(item.group, []).append(item)
        owner.setdefault(item.stem_key, item.group)
    for item in sidecars:
        groups.setdefault(owner.get(item.stem_key, item.group), []).append(item)

    entries: list[Entry] = []
    for (group_dir, base), members in sorted(groups.items()):
        if len(members) > 1:
            members.sort(key=_order)
        entry = Entry(base, group_dir, tuple(members))
        _attach_caption(entry, captions, metadata)
        entries.append(entry)
    return entries


def _attach_caption(entry: Entry, captions: dict[str, str], metadata: dict[str, str]) -> None:
    texts = [f.path for f in entry.files if f.kind == "caption" and f.path in captions]
    if texts:
        group_level = posixpath.join(entry.path, entry.base + layout.CAPTION_EXTENSION)
        chosen = group_level if group_level in texts else texts[0]
        entry.caption, entry.caption_path = captions[chosen], chosen
        return
    if metadata:
        for item in entry.files:
            if item.kind == "audio":
                text = metadata.get(layout.metadata_id(item.path))
                if text is not None:
                    entry.caption, entry.caption_source = text, layout.METADATA_CSV
                    return
