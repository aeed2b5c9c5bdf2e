"""Listing entries from a dataset's files, as pure functions (no disk access).

Files are grouped by :func:`datasety.layout.placement` (folder + base name); a ``.txt`` joins
the group of the file it is the sidecar of. An entry's caption is its group's ``.txt`` or, for
audio without one, the file's ``metadata.csv`` row.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from datasety import layout

PAIR_ROLES = (*layout.ROLES, "image")
_ROLE_RANK = {role: rank for rank, role in enumerate(layout.ROLES)}
MEDIA_KINDS = frozenset({"image", "audio", "video"})


@dataclass(frozen=True)
class FileItem:
    """One file of a listing: the spec's ``files[]`` element."""

    path: str
    name: str
    size_bytes: int
    extension: str
    file_type: str
    kind: str

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "name": self.name,
            "size_bytes": self.size_bytes,
            "extension": self.extension,
            "file_type": self.file_type,
        }


def file_item(path: str, size: int, where: layout.Placement) -> FileItem:
    name = posixpath.basename(path)
    kind = layout.file_kind(name)
    return FileItem(path, name, size, layout.extension(name), where.role or kind, kind)


@dataclass
class Entry:
    """One group of files: the spec's listing entry."""

    base: str
    path: str
    files: list[FileItem]
    caption: str = ""
    caption_path: str = ""
    caption_source: str = ""
    _haystack: str | None = field(default=None, repr=False)

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
        return (tuple(self.files), self.caption, self.caption_path, self.caption_source)

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


def _order(item: FileItem) -> tuple[int, int, str]:
    return (item.kind == "caption", _ROLE_RANK.get(item.file_type, len(_ROLE_RANK)), item.path)


def build_entries(
    files: Iterable[tuple[str, int]],
    placements: dict[str, layout.Placement],
    captions: dict[str, str],
    metadata: dict[str, str],
) -> list[Entry]:
    """Group ``(path, size)`` pairs into entries sorted by folder and base name.

    ``placements`` maps every path to its placement, ``captions`` every ``.txt`` path to its
    text, ``metadata`` the ``metadata.csv`` rows (id -> text).
    """
    groups: dict[tuple[str, str], list[FileItem]] = {}
    sidecars: list[tuple[str, int, layout.Placement]] = []
    owner: dict[tuple[str, str], tuple[str, str]] = {}
    for path, size in files:
        where = placements[path]
        if layout.extension(path) == layout.CAPTION_EXTENSION:
            sidecars.append((path, size, where))
            continue
        key = (where.group_dir, where.base)
        groups.setdefault(key, []).append(file_item(path, size, where))
        stem_key = (posixpath.dirname(path), posixpath.splitext(posixpath.basename(path))[0])
        owner.setdefault(stem_key, key)
    for path, size, where in sidecars:
        key = owner.get((where.group_dir, where.base), (where.group_dir, where.base))
        groups.setdefault(key, []).append(file_item(path, size, where))

    entries: list[Entry] = []
    for (group_dir, base), items in sorted(groups.items()):
        items.sort(key=_order)
        entry = Entry(base, group_dir, items)
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
    for item in entry.files:
        if item.kind == "audio":
            text = metadata.get(layout.metadata_id(item.path))
            if text is not None:
                entry.caption, entry.caption_source = text, layout.METADATA_CSV
                return
