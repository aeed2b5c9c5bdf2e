"""Bulk curation: one operation (caption set/prefix/suffix/remove a tag/find-replace, delete to
the trash, move to a folder) over a selection of entries, previewed or applied, and undone as
one step.

A selection is explicit paths (any file of each entry) or a listing filter; each entry's
caption is read from where it lives (its ``.txt`` or its ``metadata.csv`` row) and a new one
follows the dataset's convention (:mod:`datasety.server.curation.caption_targets`). Applying
records every change under one operation id (:mod:`datasety.server.curation.history`); a failure
on one entry does not stop the others, and each answers its own result.
"""

from __future__ import annotations

import posixpath
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasety.core import layout
from datasety.core.errors import ConflictError, DatasetyError, NotFoundError
from datasety.server.catalog.catalogs import Catalog, Query
from datasety.server.catalog.listing import Entry, FileRec
from datasety.server.catalog.listing_order import first_image
from datasety.server.curation import caption_targets, history, trash
from datasety.server.errors import ApiError
from datasety.server.files.fsroot import DatasetRoot
from datasety.server.files.security import clean_relative
from datasety.server.store import Store

CAPTION_OPS = ("set", "prefix", "suffix", "remove_tag", "replace")
FILE_OPS = ("delete", "move")
MAX_ITEMS = 100_000


@dataclass(frozen=True)
class Edit:
    """One operation and its fields, checked."""

    op: str
    text: str = ""
    tag: str = ""
    pattern: re.Pattern[str] | None = None
    replacement: str = ""
    folder: str = ""

    def caption(self, caption: str) -> str:
        """``caption`` after this (caption) operation."""
        if self.op == "set":
            return self.text
        if self.op == "prefix":
            return caption if caption.startswith(self.text) else self.text + caption
        if self.op == "suffix":
            return caption if caption.endswith(self.text) else caption + self.text
        if self.op == "remove_tag":
            tags = [t.strip() for t in caption.split(",")]
            kept = [t for t in tags if t != self.tag]
            return caption if len(kept) == len(tags) else ", ".join(t for t in kept if t)
        assert self.pattern is not None
        return self.pattern.sub(self.replacement, caption)

    def params(self) -> dict[str, Any]:
        """What the operation was asked, for the operations list."""
        out: dict[str, Any] = {}
        for key in ("text", "tag", "replacement", "folder"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.pattern is not None:
            out["find"] = self.pattern.pattern
        return out


@dataclass
class Request:
    """A parsed bulk request."""

    edit: Edit
    preview: bool
    paths: list[str] | None = None
    filter: dict[str, Any] = field(default_factory=dict)


def _str(body: dict[str, Any], key: str, required: bool = False) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, f"Missing '{key}' in payload")
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"'{key}' must be a string")
    return value


def parse(body: dict[str, Any]) -> Request:
    """The bulk request in ``body``; 400 for anything missing or malformed."""
    op = _str(body, "op", required=True)
    if op not in CAPTION_OPS + FILE_OPS:
        known = ", ".join(CAPTION_OPS + FILE_OPS)
        raise ApiError(400, f"Unknown op '{op}' (known: {known})")
    edit = _edit(op, body)
    preview = body.get("preview", False)
    if not isinstance(preview, bool):
        raise ApiError(400, "'preview' must be true or false")
    select = body.get("select")
    if not isinstance(select, dict) or ("paths" in select) == ("filter" in select):
        raise ApiError(400, '\'select\' must be {"paths": [...]} or {"filter": {...}}')
    if "paths" in select:
        paths = select["paths"]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ApiError(400, "'select.paths' must be a list of strings")
        if len(paths) > MAX_ITEMS:
            raise ApiError(400, f"At most {MAX_ITEMS} paths per operation")
        return Request(edit, preview, paths=paths)
    criteria = select["filter"]
    if not isinstance(criteria, dict):
        raise ApiError(400, "'select.filter' must be an object")
    return Request(edit, preview, filter=criteria)


def _edit(op: str, body: dict[str, Any]) -> Edit:
    if op in ("set", "prefix", "suffix"):
        text = _str(body, "text", required=True)
        if op != "set" and not text:
            raise ApiError(400, "'text' must not be empty")
        return Edit(op, text=text)
    if op == "remove_tag":
        tag = _str(body, "tag", required=True).strip()
        if not tag:
            raise ApiError(400, "'tag' must not be empty")
        return Edit(op, tag=tag)
    if op == "replace":
        find = _str(body, "find", required=True)
        if not find:
            raise ApiError(400, "'find' must not be empty")
        replacement = _str(body, "replace")
        flags = re.IGNORECASE if body.get("ignore_case") is True else 0
        source = find if body.get("regex") is True else re.escape(find)
        if body.get("regex") is not True:
            replacement = replacement.replace("\\", "\\\\")  # literal text, no group refs
        try:
            pattern = re.compile(source, flags)
            pattern.sub(replacement, "")  # a bad group reference fails here, not per item
        except re.error as exc:
            raise ApiError(400, f"Invalid regular expression: {exc}") from None
        return Edit(op, pattern=pattern, replacement=replacement)
    if op == "move":
        folder = clean_relative(_str(body, "folder", required=True))
        return Edit(op, folder=folder)
    return Edit(op)


# -- selection -------------------------------------------------------------------------------


def select(catalog: Catalog, root: DatasetRoot, request: Request) -> list[Entry]:
    """The entries a request selects, in listing order, each once."""
    if request.paths is None:
        criteria = request.filter
        folder = _filter_str(criteria, "folder")
        if folder:
            folder = clean_relative(folder)
            if not trash.exists(root, folder):
                raise NotFoundError(f"Folder not found: {folder}")
        missing = _filter_str(criteria, "missing")
        if missing not in ("", "caption"):
            raise ApiError(400, "'select.filter.missing' must be \"caption\"")
        query = Query(folder=folder, q=_filter_str(criteria, "q"), missing_caption=bool(missing))
        query.media_only = criteria.get("media") is True
        entries = catalog.selection(query)
        if len(entries) > MAX_ITEMS:
            raise ApiError(400, f"At most {MAX_ITEMS} entries per operation")
        return entries
    everything = catalog.selection(Query())
    by_path = {rec.path: entry for entry in everything for rec in entry}
    chosen: dict[tuple[str, str], Entry] = {}
    for path in request.paths:
        entry = by_path.get(clean_relative(path))
        if entry is None:
            raise NotFoundError(f"File not found: {path}")
        chosen.setdefault(entry.key, entry)
    return list(chosen.values())


def _filter_str(criteria: dict[str, Any], key: str) -> str:
    value = criteria.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"'select.filter.{key}' must be a string")
    return value


def primary(entry: Entry) -> FileRec:
    """The file that names an entry: its image (a pair's target), else its first media file."""
    image = first_image(entry)
    if image is not None:
        return image
    return next((f for f in entry if f.kind in ("audio", "video")), entry[0])


def _target(root: DatasetRoot, entry: Entry) -> str:
    caption_file = entry.caption_file
    if caption_file is not None:
        return caption_file.path
    return caption_targets.target_for(root, primary(entry).path)


# -- preview and apply ----------------------------------------------------------------------


@dataclass
class Context:
    """What applying needs besides the entries."""

    store: Store
    dataset_id: str
    data_dir: Path
    lock: threading.Lock
    noted: Callable[[str], None]  # tells the catalog a dataset path changed


def run(
    catalog: Catalog, root: DatasetRoot, entries: list[Entry], request: Request, context: Context
) -> dict[str, Any]:
    """Preview or apply ``request`` over ``entries`` (selected from ``catalog``); the
    answer's JSON."""
    edit = request.edit
    if edit.op in CAPTION_OPS:
        items = _caption_items(catalog, root, entries, edit)
    else:
        items = _file_items(root, entries, edit)
    changing = [item for item in items if item["status"] == "change"]
    answer: dict[str, Any] = {"op": edit.op, "total": len(items), "changed": len(changing)}
    if request.preview:
        return {**answer, "preview": True, "items": items}
    if not changing:
        return {**answer, "id": None, "failed": 0, "items": _settled(items)}
    _prune(context)
    operation_id = history.start_operation(
        context.store, context.dataset_id, edit.op, edit.params(), len(changing)
    )
    if edit.op in CAPTION_OPS:
        _apply_captions(root, changing, operation_id, context)
    else:
        _apply_files(root, changing, edit, operation_id, context)
    items = _settled(items)
    failed = sum(item["status"] == "error" for item in items)
    return {**answer, "id": operation_id, "failed": failed, "items": items}


def _prune(context: Context) -> None:
    """Operations past the history's retention go, with their trashed files."""
    expired = history.expired_operations(context.store)
    for operation_id in expired:
        trash.purge(context.data_dir, operation_id)
    history.forget_operations(context.store, expired)


def _settled(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        if item["status"] == "change":
            item["status"] = "ok"
    return items


def _caption_items(
    catalog: Catalog, root: DatasetRoot, entries: list[Entry], edit: Edit
) -> list[dict[str, Any]]:
    # The catalog's captions: fresh (the selection refreshed it) and, once listed, in memory.
    captions = catalog.captions_of(entries)
    items = []
    for entry, (text, from_metadata) in zip(entries, captions, strict=True):
        target = _target(root, entry)
        before = text if entry.caption_file is not None or from_metadata else None
        after = edit.caption(before or "")
        unchanged = after == (before or "") if before is None else after == before
        items.append(
            {
                "path": primary(entry).path,
                "caption_path": target,
                "before": before,
                "after": after,
                "status": "unchanged" if unchanged else "change",
            }
        )
    return items


def _apply_captions(
    root: DatasetRoot, items: list[dict[str, Any]], operation_id: str, context: Context
) -> None:
    texts = {item["caption_path"]: item["after"] for item in items}
    try:
        caption_targets.write_many(root, texts, context.lock)
    except (OSError, DatasetyError) as exc:
        # Some may be written: those that hold their new text are recorded (the undo puts
        # them back), the others are this item's error.
        now = caption_targets.read_many(root, list(texts))
        for item in items:
            if now[item["caption_path"]] != item["after"]:
                item["status"], item["error"] = "error", _reason(exc)
    changes = [
        history.Change(item["caption_path"], item["path"], item["before"], item["after"])
        for item in items
        if item["status"] != "error"
    ]
    history.record(context.store, context.dataset_id, changes, "bulk", operation_id)
    for target in texts:
        context.noted(file_of(target))


def file_of(target: str) -> str:
    return caption_targets.ROW_PREFIX[:-1] if caption_targets.is_row(target) else target


def _file_items(root: DatasetRoot, entries: list[Entry], edit: Edit) -> list[dict[str, Any]]:
    items = []
    for entry in entries:
        paths = [rec.path for rec in entry]
        item: dict[str, Any] = {"path": primary(entry).path, "files": paths, "status": "change"}
        if edit.op == "move":
            item["to"] = [_moved(entry, path, edit.folder) for path in paths]
            if item["to"] == paths:
                item["status"] = "unchanged"
            elif any(trash.exists(root, dest) for dest in item["to"]):
                taken = next(dest for dest in item["to"] if trash.exists(root, dest))
                item["status"], item["error"] = "error", trash.DESTINATION_EXISTS.format(taken)
        items.append(item)
    return items


def _moved(entry: Entry, path: str, folder: str) -> str:
    """``path`` (a file of ``entry``) moved under ``folder``, its role folder kept."""
    inside = posixpath.relpath(path, entry.path) if entry.path else path
    return posixpath.join(folder, inside) if folder else inside


def _apply_files(
    root: DatasetRoot,
    items: list[dict[str, Any]],
    edit: Edit,
    operation_id: str,
    context: Context,
) -> None:
    trash_root = trash.trash_dir(context.data_dir, operation_id)
    rows: list[history.Change] = []
    for item in items:
        moves: list[history.Move] = []
        try:
            if edit.op == "delete":
                rows.extend(_trash_rows(root, item["files"]))
                for path in item["files"]:
                    trash.to_trash(root, path, trash_root / path)
                    moves.append(history.Move(path, str(trash_root / path)))
            else:
                for path, dest in zip(item["files"], item["to"], strict=True):
                    trash.move_within(root, path, dest)
                    moves.append(history.Move(path, dest))
                    context.noted(dest)
        except (OSError, DatasetyError) as exc:
            item["status"], item["error"] = "error", _reason(exc)
        history.record_moves(context.store, operation_id, moves)
        for move in moves:
            context.noted(move.source)
    if rows:
        # A deleted audio file's metadata.csv row goes with it (and comes back on undo).
        caption_targets.write_many(root, {row.target: None for row in rows}, context.lock)
        history.record(context.store, context.dataset_id, rows, "bulk", operation_id)
        context.noted(caption_targets.ROW_PREFIX[:-1])


def _trash_rows(root: DatasetRoot, paths: list[str]) -> list[history.Change]:
    audio = [p for p in paths if layout.file_kind(p) == "audio"]
    if not audio:
        return []
    targets = [caption_targets.row_target(p) for p in audio]
    current = caption_targets.read_many(root, targets)
    return [
        history.Change(target, path, current[target], None)
        for target, path in zip(targets, audio, strict=True)
        if current[target] is not None
    ]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}"
    return str(exc)


# -- undo ---------------------------------------------------------------------------------


def undo(root: DatasetRoot, operation_id: str, context: Context) -> dict[str, Any]:
    """Undo an applied operation as one step; 409 (nothing undone) if any file it touched
    changed since."""
    found = history.operation(context.store, context.dataset_id, operation_id)  # 404 if unknown
    if found["undone_at"] is not None:
        raise ConflictError(history.ALREADY_UNDONE)
    changes, moves = history.operation_changes(context.store, operation_id)
    current = caption_targets.read_many(root, [c.target for c in changes])
    for change in changes:
        if current[change.target] != change.after:
            raise ConflictError(f"Cannot undo: {file_of(change.target)} changed since")
    for move in moves:
        moved_away = Path(move.dest).is_absolute()
        there = Path(move.dest).exists() if moved_away else trash.exists(root, move.dest)
        if not there or trash.exists(root, move.source):
            raise ConflictError(f"Cannot undo: {move.source} changed since")
    history.mark_undone(context.store, operation_id)
    for move in reversed(moves):
        if Path(move.dest).is_absolute():
            trash.from_trash(root, Path(move.dest), move.source)
        else:
            trash.move_within(root, move.dest, move.source)
            context.noted(move.dest)
        context.noted(move.source)
    if changes:
        caption_targets.write_many(root, {c.target: c.before for c in changes}, context.lock)
        undone = [history.Change(c.target, c.item, c.after, c.before) for c in changes]
        history.record(context.store, context.dataset_id, undone, "undo", operation_id)
        for change in changes:
            context.noted(file_of(change.target))
    if any(Path(m.dest).is_absolute() for m in moves):
        trash.purge(context.data_dir, operation_id)
    return {"id": operation_id, "status": "undone", "restored": len(changes) + len(moves)}
