"""Dataset conventions as pure functions: file kinds, roles, base names, sidecars, metadata.csv.

The naming conventions (from the server spec):

* suffix roles, matched only as the last ``_word`` of the stem: ``*_input`` / ``*_start`` /
  ``*_control`` -> input, ``*_target`` / ``*_end`` -> target, ``*_mask``, ``*_canny``,
  ``*_pose``, ``*_seg``, ``*_depth``, ``*_normal`` (so ``my_endpoint.png`` and
  ``data_segments.png`` have no role);
* folder roles, the file's parent folder: ``input/``, ``control/`` -> input, ``target/``,
  ``output/`` -> target, ``mask/``, ``canny/``, ``pose/``, ``seg/``, ``depth/``, ``normal/``;
* a caption is a ``.txt`` sidecar with the same stem (``photo.jpg`` + ``photo.txt``), or for a
  group of role files the group's base (``edit_001_input.png`` + ``edit_001.txt``);
* TTS datasets keep transcripts in ``metadata.csv`` at the root, LJSpeech/Piper style:
  ``id|text[|normalized]``, pipe-delimited with no CSV quoting (quotes are text), where ``id``
  is the audio file's stem.

Paths here are dataset-relative POSIX strings (``"sub/photo.jpg"``); nothing touches the disk.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from datasety.core.errors import DatasetyError
from datasety.core.inputs import IMAGE_EXTENSIONS

AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus", ".wma"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
CAPTION_EXTENSION = ".txt"
METADATA_CSV = "metadata.csv"

ROLES = ("input", "target", "mask", "canny", "pose", "seg", "depth", "normal")

ROLE_SUFFIXES: dict[str, str] = {
    "input": "input",
    "start": "input",
    "control": "input",
    "target": "target",
    "end": "target",
    **{role: role for role in ROLES[2:]},
}

ROLE_FOLDERS: dict[str, str] = {
    "input": "input",
    "control": "input",
    "target": "target",
    "output": "target",
    **{role: role for role in ROLES[2:]},
}


def extension(name: str) -> str:
    """Lower-case extension with its dot (``".jpg"``), or ``""``."""
    return posixpath.splitext(name)[1].lower()


# A listing classifies every file of a dataset (a million, for some): one dict look-up each.
_KIND_OF_EXTENSION = {
    **{ext: "image" for ext in IMAGE_EXTENSIONS},
    **{ext: "audio" for ext in AUDIO_EXTENSIONS},
    **{ext: "video" for ext in VIDEO_EXTENSIONS},
    CAPTION_EXTENSION: "caption",
}


def file_kind(name: str) -> str:
    """``"image"``, ``"audio"``, ``"video"``, ``"caption"`` or ``"other"``."""
    return _KIND_OF_EXTENSION.get(extension(name), "other")


def extension_kind(ext: str) -> str:
    """:func:`file_kind` of a lower-case extension (``".jpg"``)."""
    return _KIND_OF_EXTENSION.get(ext, "other")


def split_role(stem: str) -> tuple[str, str | None]:
    """``"edit_001_input"`` -> ``("edit_001", "input")``; no role -> ``(stem, None)``."""
    base, sep, suffix = stem.rpartition("_")
    role = ROLE_SUFFIXES.get(suffix.lower()) if sep and base else None
    return (base, role) if role else (stem, None)


@dataclass(frozen=True)
class Placement:
    """Where a file belongs: its group (folder + base name) and its role in that group."""

    group_dir: str  # dataset-relative folder of the group ("" for the root)
    base: str
    role: str | None  # one of ROLES, or None


def placement(path: str) -> Placement:
    """The group and role of the file at ``path`` (suffix roles win over folder roles)."""
    folder, name = posixpath.split(path)
    stem, ext = posixpath.splitext(name)
    if _KIND_OF_EXTENSION.get(ext.lower()) == "image":
        base, role = split_role(stem)
        if role:
            return Placement(folder, base, role)
        folder_role = ROLE_FOLDERS.get(posixpath.basename(folder).lower()) if folder else None
        if folder_role:
            return Placement(posixpath.dirname(folder), stem, folder_role)
    return Placement(folder, stem, None)


def file_type(path: str) -> str:
    """The spec's ``file_type``: the role for role files, else the kind."""
    return placement(path).role or file_kind(path)


def sidecar_path(path: str) -> str:
    """The ``.txt`` caption sidecar that belongs beside ``path``."""
    return posixpath.splitext(path)[0] + CAPTION_EXTENSION


def caption_candidates(path: str) -> list[str]:
    """Caption files for ``path``, most specific first: its own sidecar, then its group's."""
    own = sidecar_path(path)
    where = placement(path)
    group = posixpath.join(where.group_dir, where.base + CAPTION_EXTENSION)
    return [own] if group == own else [own, group]


# -- metadata.csv (LJSpeech / Piper) ----------------------------------------------------------


def metadata_id(path: str) -> str:
    """The ``metadata.csv`` row id of an audio file: its stem."""
    return posixpath.splitext(posixpath.basename(path))[0]


def parse_metadata(content: str, *, normalized: bool = False) -> dict[str, str]:
    """``{id: text}`` from metadata.csv content; the first row of an id wins.

    ``normalized``: a row's third column (LJSpeech's normalized text, numbers spelled out)
    where it has a non-empty one, which is what a voice should learn to say.
    """
    rows: dict[str, str] = {}
    for line in content.splitlines():
        if not line.strip():
            continue
        row_id, sep, rest = line.partition("|")
        if sep:
            fields = rest.split("|")
            spoken = fields[1] if normalized and len(fields) > 1 and fields[1].strip() else ""
            rows.setdefault(row_id, spoken or fields[0])
    return rows


def check_metadata_text(text: str) -> None:
    """Refuse text that would corrupt the pipe-delimited, one-row-per-line format."""
    if "|" in text or "\n" in text or "\r" in text:
        raise DatasetyError("metadata text must not contain '|' or line breaks")


def set_metadata_row(content: str, row_id: str, text: str) -> str:
    """``content`` with the row ``row_id`` set to ``text``; a missing row is appended.

    Every other line is kept byte for byte (line endings included). A row with a normalized
    column gets the new text there too, since the old normalized text no longer matches.
    """
    check_metadata_text(text)
    lines = content.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    for index, line in enumerate(lines):
        body = line.rstrip("\r\n")
        fields = body.split("|")
        if len(fields) >= 2 and fields[0] == row_id:
            ending = line[len(body) :]
            replaced = [row_id, text] + [text] * (len(fields) > 2) + fields[3:]
            lines[index] = "|".join(replaced) + ending
            return "".join(lines)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    lines.append(f"{row_id}|{text}{newline}")
    return "".join(lines)


def remove_metadata_row(content: str, row_id: str) -> str | None:
    """``content`` without the rows of ``row_id`` (every other line byte for byte), or None
    when it has no such row."""
    lines = content.splitlines(keepends=True)
    kept = [line for line in lines if line.split("|", 1)[0] != row_id or "|" not in line]
    return None if len(kept) == len(lines) else "".join(kept)


# -- dataset type -----------------------------------------------------------------------------


def dataset_type(names: list[str]) -> str:
    """``"image"``, ``"audio"``, ``"video"`` or ``"generic"`` from a sample of file names.

    The most common media kind wins; a ``metadata.csv`` next to audio makes it audio.
    """
    counts = {"image": 0, "audio": 0, "video": 0}
    for name in names:
        kind = file_kind(name)
        if kind in counts:
            counts[kind] += 1
    if counts["audio"] and any(posixpath.basename(n) == METADATA_CSV for n in names):
        return "audio"
    kind, count = max(counts.items(), key=lambda item: item[1])
    return kind if count else "generic"
