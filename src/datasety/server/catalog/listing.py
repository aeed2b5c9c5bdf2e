"""Listing entries from a dataset's files, and their JSON, as pure functions (no disk access).

Files are grouped by :func:`datasety.core.layout.placement` (folder + base name); a ``.txt`` joins
the group of the file it is the sidecar of. An entry's caption is its group's ``.txt`` or, for
audio without one, the file's ``metadata.csv`` row.

A dataset can hold a million files, so a file is one small record (:class:`FileRec`) that
serves the folder scan, the caption text and the listing alike; its path, extension and kind
are computed when they are asked for, not stored.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from json.encoder import encode_basestring

from datasety.core import layout

PAIR_ROLES = (*layout.ROLES, "image")
# A caption is text for a person to read: more than this is not read into memory.
CAPTION_READ_LIMIT = 1024 * 1024
_ROLE_RANK = {role: rank for rank, role in enumerate(layout.ROLES)}
_ROLES = frozenset(layout.ROLES)
MEDIA_KINDS = frozenset({"image", "audio", "video"})
_NOT_MEDIA = frozenset({"caption", "other"})


def split_name(name: str) -> tuple[str, str]:
    """``posixpath.splitext(name)`` (stem, extension), in a third of its time: a listing
    splits every name of a dataset, a million for some."""
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    if name[0] == ".":
        return posixpath.splitext(name)  # leading dots are not an extension's
    return name[:dot], name[dot:]


@dataclass(slots=True, eq=False)
class FileRec:
    """One file of a dataset folder: what the folder scan saw, and its listing item.

    ``folder`` strings are shared by every file of a folder; the group key is stored only
    when it is not (folder, stem), for role images (``control/a.png``, ``a_input.png``), and
    computed otherwise, so a big dataset keeps no key per file (~70 bytes a file).
    """

    folder: str
    name: str
    size: int
    ino: int
    mtime_ns: int
    file_type: str  # the spec's file_type: the role for role files, else the kind
    role_group: tuple[str, str] | None  # (folder, base) of its group when not (folder, stem)
    # A caption's text once read (None: not read yet, or changed since).
    text: str | None = None

    @property
    def group(self) -> tuple[str, str]:
        """(folder, base) of its group."""
        role_group = self.role_group
        if role_group is not None:
            return role_group
        return (self.folder, split_name(self.name)[0])

    @property
    def group_folder(self) -> str:
        role_group = self.role_group
        return self.folder if role_group is None else role_group[0]

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.name}" if self.folder else self.name

    @property
    def kind(self) -> str:
        return "image" if self.file_type in _ROLES else self.file_type

    @property
    def stem_key(self) -> tuple[str, str]:
        """(folder, stem): where its own sidecar would be."""
        return (self.folder, split_name(self.name)[0])

    def to_json(self) -> str:
        """Its ``files[]`` element, as JSON text."""
        name, folder = self.name, self.folder
        return (
            f'{{"path":{_string(f"{folder}/{name}" if folder else name)},'
            f'"name":{_string(name)},"size_bytes":{self.size},'
            f'"extension":{_string(split_name(name)[1].lower())},'
            f'"file_type":"{self.file_type}"}}'  # a constant: nothing to escape
        )


def file_rec(
    folder: str,
    name: str,
    size: int,
    ino: int,
    mtime_ns: int,
    shared: dict[tuple[str, str], tuple[str, str]] | None = None,
) -> FileRec:
    """The record of file ``name`` in dataset folder ``folder``.

    Records made with the same ``shared`` dict share their equal role group keys (the
    ``edit_001_input.png`` and ``edit_001_output.png`` of one pair).
    """
    # layout.placement's answer, without its splits and object: every file of a dataset
    # comes through here.
    stem, ext = split_name(name)
    kind = layout.extension_kind(ext.lower())
    if kind != "image":
        return FileRec(folder, name, size, ino, mtime_ns, kind, None)
    base, role = layout.split_role(stem) if "_" in stem else (stem, None)
    if role:
        group = (folder, base)  # the folder's own string: not a copy per group
    else:
        parent, _, last = folder.rpartition("/")
        role = layout.ROLE_FOLDERS.get(last.lower()) if folder else None
        if not role:
            return FileRec(folder, name, size, ino, mtime_ns, kind, None)
        group = (parent, stem)
    if shared is not None:
        group = shared.setdefault(group, group)
    return FileRec(folder, name, size, ino, mtime_ns, role, group)


class Entry(tuple[FileRec, ...]):
    """One group of files, in listing order: the spec's listing entry.

    Only its files are stored (a million-file dataset has half a million entries): the group
    key is its first file's (a caption sorts last, and joins the group of its media file).
    """

    __slots__ = ()

    @property
    def files(self) -> tuple[FileRec, ...]:
        return self

    @property
    def key(self) -> tuple[str, str]:
        return self[0].group

    @property
    def path(self) -> str:
        return self[0].group_folder

    @property
    def base(self) -> str:
        return self[0].group[1]

    @property
    def caption_file(self) -> FileRec | None:
        """The .txt its caption is read from: the group's own (``base.txt``), else the first."""
        last = self[-1]
        if last.file_type != "caption":
            return None  # captions sort last: none here
        if len(self) == 2 and self[0].file_type != "caption":
            return last  # the common entry: a file and its own sidecar
        texts = [f for f in self if f.file_type == "caption"]
        path, base = self[0].group
        own = base + layout.CAPTION_EXTENSION
        return next((f for f in texts if f.folder == path and f.name == own), texts[0])

    def metadata_caption(self, metadata: dict[str, str]) -> str | None:
        """Without a .txt: its audio's ``metadata.csv`` row, if there is one."""
        if metadata:
            for rec in self:
                if rec.file_type == "audio":
                    text = metadata.get(layout.metadata_id(rec.name))
                    if text is not None:
                        return text
        return None

    @property
    def has_media(self) -> bool:
        # file_type is a role (an image) or the kind: every one but these is media.
        return any(f.file_type not in _NOT_MEDIA for f in self)

    def lacks_caption(self, metadata: dict[str, str]) -> bool:
        """A media entry without a caption (a .txt of 0 bytes is no caption)."""
        if len(self) == 2:  # the common entry, spelled out: a file and its own caption
            first, last = self
            if last.file_type == "caption" and first.file_type != "caption":
                return last.size == 0 and first.file_type != "other"
        if not self.has_media:
            return False
        caption_file = self.caption_file
        if caption_file is not None:
            return caption_file.size == 0
        return not self.metadata_caption(metadata)

    def matches(self, needle: str, caption: str) -> bool:
        """Case-insensitive ``needle`` (already lower-case) in a file name, the entry's folder
        (``extra`` or ``extra/`` finds ``extra/img.png``), a file path or ``caption``."""
        # Its base and file names are parts of its file paths: the paths say for them.
        return needle in caption.lower() or any(needle in f.path.lower() for f in self)

    def to_json(self, caption: str, from_metadata: bool = False, extra: str = "") -> str:
        """Its ``files[]`` element, as JSON text (what ``dumps`` writes for the dict);
        ``from_metadata``: the caption is a ``metadata.csv`` row; ``extra``: more members
        (``,"key":value...``)."""
        first = self[0]
        path, base = first.group
        caption_file = self.caption_file
        caption_path = caption_file.path if caption_file else ""
        source = f',"caption_source":{_string(layout.METADATA_CSV)}' if from_metadata else ""
        files = ",".join([f.to_json() for f in self])
        return (
            f'{{"base":{_string(base)},"name":{_string(first.name)},'
            f'"path":{_string(path)},"files":[{files}],'
            f'"caption":{_string(caption)},"caption_path":{_string(caption_path)}{source}{extra}}}'
        )

    def pair_json(self, caption: str, extra: str = "") -> str:
        """Its ``pairs[]`` element, as JSON text (``extra`` as for :meth:`to_json`)."""
        caption_file = self.caption_file
        roles: dict[str, str] = {}
        for f in self.files:
            roles.setdefault(f.file_type, f.path)
        slots = ",".join(
            f'"{role}":{_string(roles[role]) if role in roles else "null"}' for role in PAIR_ROLES
        )
        caption_path = caption_file.path if caption_file else ""
        return (
            f'{{"base":{_string(self.base)},"path":{_string(self.path)},{slots},'
            f'"caption":{_string(caption)},"caption_path":{_string(caption_path)},'
            f'"all_files":[{",".join(f.to_json() for f in self.files)}]{extra}}}'
        )


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# A JSON string literal exactly as ``dumps`` writes one (C-accelerated): entries are written
# as text, a million of them for some listings, without a dict per entry and file.
_string = encode_basestring


def head(pair: bool) -> bytes:
    return b'{"pairs":[' if pair else b'{"files":['


def tail(total: int) -> bytes:
    return b'],"total":%d}' % total


def partial_tail(known: int) -> bytes:
    """The end of a page answered before the scan finished: ``total`` counts what is known."""
    return b'],"total":%d,"complete":false}' % known


def render(
    entry: Entry,
    pair: bool,
    caption_of: Callable[[Entry], tuple[str, bool]],
    extra: str = "",
) -> bytes:
    """One entry's JSON (``files[]`` or ``pairs[]`` element); ``caption_of`` gives its
    caption and whether that is a ``metadata.csv`` row; ``extra``: more members."""
    caption, from_metadata = caption_of(entry)
    if pair:
        return entry.pair_json(caption, extra).encode()
    return entry.to_json(caption, from_metadata, extra).encode()


def _order(rec: FileRec) -> tuple[bool, int, str]:
    return (rec.file_type == "caption", _ROLE_RANK.get(rec.file_type, len(_ROLE_RANK)), rec.path)


def build_entries(recs: Iterable[FileRec], folder: str | None = None) -> list[Entry]:
    """Group file records into entries sorted by folder and base name (only the entries
    whose folder is ``folder``, if given)."""
    groups: dict[tuple[str, str], list[FileRec]] = {}
    sidecars: list[FileRec] = []
    owner: dict[tuple[str, str], tuple[str, str]] = {}
    # FileRec.group and .stem_key spelled out: every file of a dataset comes through here.
    for rec in recs:
        if rec.file_type == "caption":
            sidecars.append(rec)
            continue
        stem_key = (rec.folder, split_name(rec.name)[0])
        group = rec.role_group or stem_key
        members = groups.get(group)
        if members is None:
            groups[group] = [rec]
        else:
            members.append(rec)
        # Only a role file's stem differs from its group's base (edit_001_input: edit_001).
        owner.setdefault(stem_key, group)
    for rec in sidecars:
        # A caption's group is its own stem key: a .txt has no role.
        stem_key = (rec.folder, split_name(rec.name)[0])
        group = owner.get(stem_key, stem_key)
        members = groups.get(group)
        if members is None:
            groups[group] = [rec]
        else:
            members.append(rec)

    entries: list[Entry] = []
    for key in sorted(groups):
        if folder is not None and key[0] != folder:
            continue
        members = groups[key]
        # A media file and its own caption are in order already (captions come last).
        if len(members) > 1 and not (
            len(members) == 2
            and members[1].file_type == "caption"
            and members[0].file_type != "caption"
        ):
            members.sort(key=_order)
        entries.append(Entry(members))
    return entries
