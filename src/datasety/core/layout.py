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


def _metadata_rows(content: str) -> list[list[str]]:
    """The pipe-separated fields of each non-blank line (no CSV quoting: a quote is text)."""
    return [line.split("|") for line in content.splitlines() if line.strip()]


def _has_speaker_column(rows: list[list[str]]) -> bool:
    """True for Piper's multi-speaker ``id|speaker|text[|normalized]`` rows: every row has a
    third column and a one-word second column, and at least two such names are each shared
    by several ids. LJSpeech's ``id|text|normalized`` rows hold sentences (or words no two
    rows share) in the second column."""
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for fields in rows:
        if len(fields) < 3 or len(fields[1].split()) != 1:
            return False
        if fields[0] not in seen:
            seen.add(fields[0])
            speaker = fields[1].strip()
            counts[speaker] = counts.get(speaker, 0) + 1
    return len(counts) >= 2 and min(counts.values()) >= 2


def parse_metadata(content: str, *, normalized: bool = False) -> dict[str, str]:
    """``{id: text}`` from metadata.csv content; the first row of an id wins.

    ``normalized``: a row's normalized column (LJSpeech's third, numbers spelled out) where
    it has a non-empty one, which is what a voice should learn to say. In a multi-speaker
    file (:func:`metadata_speakers`) the text and normalized columns come one later.
    """
    rows = _metadata_rows(content)
    first = 2 if _has_speaker_column(rows) else 1
    texts: dict[str, str] = {}
    for fields in rows:
        if len(fields) > first:
            spoken = fields[first + 1] if normalized and len(fields) > first + 1 else ""
            texts.setdefault(fields[0], spoken if spoken.strip() else fields[first])
    return texts


def metadata_speakers(content: str) -> dict[str, str]:
    """``{id: speaker}`` of a multi-speaker ``id|speaker|text`` metadata.csv, else ``{}``;
    the first row of an id wins."""
    rows = _metadata_rows(content)
    if not _has_speaker_column(rows):
        return {}
    speakers: dict[str, str] = {}
    for fields in rows:
        speakers.setdefault(fields[0], fields[1].strip())
    return speakers


def check_metadata_text(text: str) -> None:
    """Refuse text that would corrupt the pipe-delimited, one-row-per-line format."""
    if "|" in text or "\n" in text or "\r" in text:
        raise DatasetyError("metadata text must not contain '|' or line breaks")


def check_new_row(content: str, row_id: str) -> None:
    """Refuse to add the row ``row_id`` to a multi-speaker metadata.csv that lacks it: its
    speaker is unknown, and a row without one would make every speaker name read as text."""
    rows = _metadata_rows(content)
    if _has_speaker_column(rows) and all(fields[0] != row_id for fields in rows):
        raise DatasetyError(
            f"metadata.csv names a speaker on every row (id|speaker|text) and has no row "
            f"'{row_id}': add it with its speaker to metadata.csv itself"
        )


def set_metadata_row(content: str, row_id: str, text: str) -> str:
    """``content`` with the row ``row_id`` set to ``text``; a missing row is appended.

    Every other line is kept byte for byte (line endings included). A row with a normalized
    column gets the new text there too, since the old normalized text no longer matches; a
    multi-speaker row keeps its speaker (and a missing one is refused, see
    :func:`check_new_row`).
    """
    check_metadata_text(text)
    first = 2 if _has_speaker_column(_metadata_rows(content)) else 1
    lines = content.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    for index, line in enumerate(lines):
        body = line.rstrip("\r\n")
        fields = body.split("|")
        if len(fields) > first and fields[0] == row_id:
            ending = line[len(body) :]
            normalized = [text] * (len(fields) > first + 1)
            lines[index] = "|".join(fields[:first] + [text] + normalized + fields[first + 2 :])
            lines[index] += ending
            return "".join(lines)
    check_new_row(content, row_id)
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
