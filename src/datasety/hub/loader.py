"""The ``datasets`` loader config of a dataset card, and the metadata rows behind it.

``datasets.load_dataset(repo)`` reads the card's ``configs`` section: which files form the
``train`` split; the folder builders (``imagefolder``, ``audiofolder``, ``videofolder``,
``pdffolder``) are chosen from those files' extensions. Our folders keep their text where
trainers want it (``photo.txt`` caption sidecars, LJSpeech ``metadata.csv`` with ``id|text``
rows), which those builders do not read, so the upload adds a ``metadata.jsonl`` at the root:
one row per example, its media in ``file_name`` (or ``<role>_file_name`` columns for
control/target pairs and masks, which the builders turn into ``input``/``target``/``mask``
image columns) and its text in ``text``. The folder itself is never changed: the generated
file exists only in the upload. A folder that already has a Hub-style ``metadata.jsonl`` or
``metadata.csv`` (with a ``file_name`` column) keeps it, and no rows are generated.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from datasety.core import layout
from datasety.core.errors import DatasetyError
from datasety.hub.files import LocalFile

METADATA_JSONL = "metadata.jsonl"
BUILDERS = {"image": "imagefolder", "audio": "audiofolder", "video": "videofolder"}
DOCUMENT_BUILDER = "pdffolder"
# Plain data files the packaged `datasets` builders read, by preference.
TABLE_EXTENSIONS = (".parquet", ".csv", ".jsonl", ".json", ".txt")
IMAGE_COLUMN = "image"


@dataclass
class Loader:
    """How ``datasets`` loads the upload, and the rows it will see."""

    builder: str | None  # the inferred builder, for the card's text; None: no loader config
    data_files: list[str] = field(default_factory=list)  # patterns of the train split
    generated: str | None = None  # metadata.jsonl text the upload adds, or None
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # example rows (all, or a sample)
    row_count: int = 0

    def configs(self) -> list[dict[str, Any]] | None:
        """The card's ``configs`` front matter, or None without a loader."""
        if not self.builder:
            return None
        return [
            {"config_name": "default", "data_files": [{"split": "train", "path": self.data_files}]}
        ]


def build_loader(files: Sequence[LocalFile], upload_type: str) -> Loader:
    """The loader for ``files`` (already selected for upload) of an ``upload_type`` folder."""
    if upload_type == "model":
        return Loader(None)
    if upload_type == "generic":
        return _table_loader(files)
    kind = "pdf" if upload_type == "document" else upload_type
    media = [f for f in files if _is_media(f.repo_path, kind)]
    if not media:
        return Loader(None)
    builder = DOCUMENT_BUILDER if kind == "pdf" else BUILDERS[kind]
    patterns = sorted({f"**/*{posixpath.splitext(f.repo_path)[1]}" for f in media})
    existing = _existing_metadata(files)
    if existing is not None:
        name, rows, count = existing
        shown = [_as_columns(row) for row in rows]
        return Loader(
            builder, [*patterns, name], None, list(shown[0]) if shown else [], shown, count
        )
    texts = _read_texts(files)
    if kind == "image":
        columns, rows = _image_rows(media, texts)
    else:
        columns, rows = _media_rows(media, texts, kind)
    generated = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    shown = [_as_columns(row) for row in rows]
    return Loader(builder, [*patterns, METADATA_JSONL], generated, columns, shown, len(rows))


def _is_media(name: str, kind: str) -> bool:
    if kind == "pdf":
        return layout.extension(name) == ".pdf"
    return layout.file_kind(name) == kind


def _read_texts(files: Sequence[LocalFile]) -> dict[str, str]:
    """Caption sidecars and the root metadata.csv, by repository path."""
    texts: dict[str, str] = {}
    for item in files:
        if layout.file_kind(item.repo_path) == "caption" or item.repo_path == layout.METADATA_CSV:
            data = item.local.read_bytes()
            texts[item.repo_path] = data.decode("utf-8-sig", errors="replace").strip()
    return texts


# -- images: single images, and groups of role files as columns --------------------------------


def _image_rows(
    media: Sequence[LocalFile], texts: dict[str, str]
) -> tuple[list[str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], dict[str, str]] = {}
    singles: list[dict[str, str]] = []
    for item in media:
        where = layout.placement(item.repo_path)
        if where.role is None:
            singles.append({IMAGE_COLUMN: item.repo_path})
            continue
        group = groups.setdefault((where.group_dir, where.base), {})
        if where.role in group:  # the same role twice (a .png and a .jpg): a row of its own
            singles.append({where.role: item.repo_path})
        else:
            group[where.role] = item.repo_path
    present = {column for row in (*groups.values(), *singles) for column in row}
    columns = [c for c in (IMAGE_COLUMN, *layout.ROLES) if c in present]
    rows: list[dict[str, Any]] = []
    for (group_dir, base), members in groups.items():
        group_caption = posixpath.join(group_dir, base + layout.CAPTION_EXTENSION)
        # The group's caption, else a side's own sidecar: the target's first (what is learned).
        ordered = sorted(members.items(), key=lambda item: item[0] != "target")
        candidates = [group_caption, *(layout.sidecar_path(path) for _, path in ordered)]
        rows.append(_row(columns, members, _first_text(candidates, texts)))
    for single in singles:
        path = next(iter(single.values()))
        rows.append(_row(columns, single, texts.get(layout.sidecar_path(path))))
    rows.sort(key=lambda row: next(v for k, v in row.items() if k != "text" and v))
    return [*columns, "text"], rows


def _row(columns: list[str], members: dict[str, str], text: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {_file_key(c): members.get(c) for c in columns}
    row["text"] = text
    return row


def _file_key(column: str) -> str:
    # The folder builders turn `file_name` into their base column and `x_file_name` into `x`.
    return "file_name" if column == IMAGE_COLUMN else f"{column}_file_name"


def _first_text(candidates: list[str], texts: dict[str, str]) -> str | None:
    return next((texts[c] for c in candidates if c in texts), None)


# -- audio, video, documents: one file per row -------------------------------------------------


def _media_rows(
    media: Sequence[LocalFile], texts: dict[str, str], kind: str
) -> tuple[list[str], list[dict[str, Any]]]:
    transcripts = (
        layout.parse_metadata(texts.get(layout.METADATA_CSV, "")) if kind == "audio" else {}
    )
    rows = []
    for item in media:
        text = transcripts.get(layout.metadata_id(item.repo_path))
        if text is None:
            text = texts.get(layout.sidecar_path(item.repo_path))
        rows.append({"file_name": item.repo_path, "text": text})
    return [kind, "text"], rows


def _as_columns(row: dict[str, Any]) -> dict[str, Any]:
    """A metadata row with the column names ``datasets`` will show (``input`` for
    ``input_file_name``)."""
    return {
        (IMAGE_COLUMN if key == "file_name" else key.removesuffix("_file_name")): value
        for key, value in row.items()
    }


# -- metadata the folder already has -----------------------------------------------------------


def _existing_metadata(
    files: Sequence[LocalFile],
) -> tuple[str, list[dict[str, Any]], int] | None:
    """``(name, first rows, row count)`` of a root Hub-style metadata file, or None.

    A root ``metadata.csv`` without a ``file_name`` header is LJSpeech's ``id|text``, not
    one the folder builders read.
    """
    by_name = {f.repo_path: f for f in files}
    jsonl = by_name.get(METADATA_JSONL)
    if jsonl is not None:
        lines = [ln for ln in _utf8(jsonl).splitlines() if ln.strip()]
        rows = []
        for number, line in enumerate(lines[:5], 1):
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise DatasetyError(f"{METADATA_JSONL} line {number} is not a JSON object")
            rows.append(row)
        return METADATA_JSONL, rows, len(lines)
    table = by_name.get(layout.METADATA_CSV)
    if table is not None:
        content = _utf8(table)
        header = content.split("\n", 1)[0]
        if "file_name" in header.split(","):
            rows = list(csv.DictReader(io.StringIO(content)))
            return layout.METADATA_CSV, rows[:5], len(rows)
    return None


def _utf8(item: LocalFile) -> str:
    try:
        return item.local.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetyError(f"{item.repo_path} is not UTF-8 text") from exc


# -- generic data ------------------------------------------------------------------------------


def _table_loader(files: Sequence[LocalFile]) -> Loader:
    counts = Counter(layout.extension(f.repo_path) for f in files)
    found = [ext for ext in TABLE_EXTENSIONS if counts[ext]]
    if not found:
        return Loader(None)
    ext = max(found, key=lambda e: counts[e])
    builders = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json"}
    return Loader(builders.get(ext, "text"), [f"**/*{ext}"], row_count=0)
