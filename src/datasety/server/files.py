"""Reading and writing dataset files: confined paths, atomic writes, sidecars, metadata.csv.

Every path goes through :func:`datasety.server.security.confine`. Every write goes to a hidden
temporary file in the destination folder and is renamed into place, so a reader or a crash
never sees half a file. ``metadata.csv`` updates are serialised per dataset.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import posixpath
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from datasety import atomic, layout
from datasety.errors import ConflictError, DatasetyError, NotFoundError
from datasety.server.bodies import body_chunks, optional_str
from datasety.server.errors import ApiError
from datasety.server.listing import CAPTION_READ_LIMIT
from datasety.server.security import clean_relative, confine

FILE_NOT_FOUND = "File not found"
FILE_EXISTS = "File already exists (use PUT to replace it)"
PARENT_IS_A_FILE = "Failed to save file: a folder on its path is a file"
BAD_METADATA_ID = "A metadata.csv row cannot name a file with '|' or a line break in its name"


class DatasetLocks:
    """One lock per dataset id, for read-modify-write files such as ``metadata.csv``."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, dataset_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(dataset_id, threading.Lock())


@dataclass(frozen=True)
class Target:
    """A dataset path: ``rel`` as the client names it (normalised), ``path`` its real
    location, ``entry`` the directory entry itself (a symlink stays a symlink on delete)."""

    rel: str
    path: Path
    entry: Path


def target(root: Path, rel: str) -> Target:
    """The confined target of ``rel`` (403 if it escapes ``root``)."""
    rel = clean_relative(rel)
    path = confine(root, rel)
    folder, name = posixpath.split(rel)
    # The folder is confined on its own too: a symlink inside may point back in from outside.
    entry = confine(root, folder) / name if name else path
    return Target(rel, path, entry)


def existing_file(root: Path, rel: str) -> Target:
    """The target of ``rel``, which must be a regular file (404 ``File not found``)."""
    found = target(root, rel)
    if not found.rel or not found.path.is_file():
        raise NotFoundError(FILE_NOT_FOUND)
    return found


def read_text(path: Path) -> str:
    with open(path, "rb") as handle:
        return handle.read(CAPTION_READ_LIMIT).decode("utf-8", "replace")


def find_caption(root: Path, rel: str) -> tuple[str, Path] | None:
    """The caption sidecar of ``rel`` (its own, else its group's), if one exists."""
    for candidate in layout.caption_candidates(rel):
        if candidate == rel:
            continue
        path = confine(root, candidate)
        if path.is_file():
            return candidate, path
    return None


def metadata_rows(root: Path) -> dict[str, str]:
    path = confine(root, layout.METADATA_CSV)
    if not path.is_file():
        return {}
    return layout.parse_metadata(path.read_bytes().decode("utf-8", "replace"))


def info(root: Path, found: Target) -> dict[str, Any]:
    """The spec's file info: path, size, caption sidecar, metadata.csv row for audio."""
    out: dict[str, Any] = {"path": found.rel, "size_bytes": found.path.stat().st_size}
    caption = find_caption(root, found.rel)
    if caption is not None:
        out["caption"] = read_text(caption[1])
        out["caption_path"] = caption[0]
    if layout.file_kind(found.rel) == "audio":
        row = metadata_rows(root).get(layout.metadata_id(found.rel))
        if row is not None:
            out["metadata"] = row
    return out


# -- writes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WritePlan:
    """What a JSON write asks for, validated before anything is written."""

    data: bytes | None = None
    caption: str | None = None
    metadata: str | None = None

    @property
    def empty(self) -> bool:
        return self.data is None and self.caption is None and self.metadata is None


def decode_base64(text: str) -> bytes:
    """Strict base64 (line breaks and spaces allowed, as MIME wraps it)."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "Invalid base64 data") from None


def one_field(text: str) -> bool:
    """True if ``text`` stays one field of one ``metadata.csv`` row: no ``|`` and no line
    break of any kind ``str.splitlines`` knows (``\\u2028``, ``\\x1c``...; readers of the
    file, ours included, split rows on those too)."""
    return "|" not in text and len(f"x{text}x".splitlines()) == 1


def parse_write(body: dict[str, Any]) -> WritePlan:
    """``{"data", "caption", "metadata"}``, each optional, each checked."""
    data = optional_str(body, "data", "a base64 string")
    caption = optional_str(body, "caption")
    metadata = optional_str(body, "metadata")
    if metadata is not None:
        layout.check_metadata_text(metadata)
        if not one_field(metadata):
            raise DatasetyError("metadata text must not contain '|' or line breaks")
    # An empty "data" means "no file content", as in the reference server.
    return WritePlan(decode_base64(data) if data else None, caption, metadata)


def _failed(exc: OSError) -> DatasetyError:
    """The spec's 500 ``Failed to save file: ...``; a 409 when what is on disk is in the way
    (a folder where the file or its caption goes), since that is no server failure."""
    message = f"Failed to save file: {exc.strerror or exc}"
    if isinstance(exc, (IsADirectoryError, NotADirectoryError, FileExistsError)):
        return ConflictError(message)
    return ApiError(500, message)


def _install(tmp: Path, dest: Path, exclusive: bool) -> None:
    """Move the finished ``tmp`` to ``dest``; with ``exclusive``, never over an existing file."""
    if not exclusive:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic "create if absent", unlike exists() + rename
    except FileExistsError:
        raise ConflictError(FILE_EXISTS) from None
    except OSError:
        # No hard links here (some network or FUSE file systems): check, then rename.
        if dest.exists():
            raise ConflictError(FILE_EXISTS) from None
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _make_parent(path: Path) -> list[Path]:
    """Create the folders above ``path``; returns those it created, outermost first."""
    missing: list[Path] = []
    folder = path.parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        # The client's path goes through a file: a conflict with what is on disk, not a
        # server failure.
        raise ConflictError(PARENT_IS_A_FILE) from None
    except OSError as exc:
        raise _failed(exc) from exc
    return missing[::-1]


def _remove_folders(made: list[Path]) -> None:
    """Undo :func:`_make_parent` for a refused write: remove the folders it made, innermost
    first, as long as they are empty (another request may have written there since)."""
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty any more: it, and the folders above it, stay


def write_data(path: Path, data: bytes, exclusive: bool) -> None:
    """Write ``data`` to ``path`` atomically (409 with ``exclusive`` if it exists)."""
    if exclusive and path.exists():
        raise ConflictError(FILE_EXISTS)
    _make_parent(path)
    tmp = atomic.temp_path_for(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _install(tmp, path, exclusive)
    except OSError as exc:
        raise _failed(exc) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


async def stream_upload(request: Request, path: Path, exclusive: bool) -> None:
    """Stream the request body to ``path`` through a temporary file; nothing is left behind
    if the body is short, too large, or the client goes away."""
    if exclusive and path.exists():
        raise ConflictError(FILE_EXISTS)
    made = _make_parent(path)
    tmp = atomic.temp_path_for(path)
    installed = False
    try:
        with open(tmp, "wb") as handle:
            async for chunk in body_chunks(request):
                handle.write(chunk)
            handle.flush()
            # fsync can take seconds for a big file: keep it off the event loop.
            await run_in_threadpool(os.fsync, handle.fileno())
        await run_in_threadpool(_install, tmp, path, exclusive)
        installed = True
    except OSError as exc:
        raise _failed(exc) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if not installed:
            _remove_folders(made)


def write_caption(root: Path, rel: str, text: str) -> str:
    """Write the ``.txt`` sidecar of ``rel``; returns the sidecar's dataset path."""
    sidecar = layout.sidecar_path(rel)
    if sidecar == rel:
        raise DatasetyError("A caption cannot be attached to a .txt file")
    path = confine(root, sidecar)
    _make_parent(path)
    try:
        atomic.atomic_write_text(path, text)
    except OSError as exc:
        raise _failed(exc) from exc
    return sidecar


def write_metadata(root: Path, rel: str, text: str, lock: threading.Lock) -> str:
    """Set the ``metadata.csv`` row of ``rel`` (added if missing); other rows stay byte for
    byte. Serialised by the dataset's ``lock``."""
    path = confine(root, layout.METADATA_CSV)
    with lock:
        try:
            raw = path.read_bytes() if path.is_file() else b""
            # surrogateescape: bytes that are not UTF-8 in other rows are written back as-is.
            content = raw.decode("utf-8", "surrogateescape")
            updated = layout.set_metadata_row(content, layout.metadata_id(rel), text)
            atomic.atomic_write_bytes(path, updated.encode("utf-8", "surrogateescape"))
        except OSError as exc:
            raise _failed(exc) from exc
    return layout.METADATA_CSV


def apply_write(
    root: Path, found: Target, plan: WritePlan, lock: threading.Lock, exclusive: bool
) -> dict[str, str]:
    """Carry out a validated JSON write; returns the sidecar paths it wrote."""
    written: dict[str, str] = {}
    if plan.caption is not None:
        # Confined before the data is written, so a refused sidecar writes nothing at all.
        confine(root, layout.sidecar_path(found.rel))
    if plan.metadata is not None:
        if not one_field(layout.metadata_id(found.rel)):
            raise DatasetyError(BAD_METADATA_ID)
        confine(root, layout.METADATA_CSV)
    if plan.data is not None:
        write_data(found.path, plan.data, exclusive)
    elif found.rel:
        _make_parent(found.path)
    if plan.caption is not None:
        written["caption_path"] = write_caption(root, found.rel, plan.caption)
    if plan.metadata is not None:
        written["metadata_path"] = write_metadata(root, found.rel, plan.metadata, lock)
    return written


def _unlink(entry: Path) -> None:
    try:
        entry.unlink()
    except FileNotFoundError:
        raise NotFoundError(FILE_NOT_FOUND) from None
    except OSError as exc:
        raise ApiError(500, f"Failed to delete file: {exc.strerror or exc}") from exc


def delete(
    root: Path, rel: str, with_caption: bool, lock: threading.Lock, keep_metadata: bool = False
) -> dict[str, str]:
    """Delete the file ``rel`` (a symlink itself, never its target); with ``with_caption`` its
    ``.txt`` sidecar too, and that alone when the file is gone (``note`` says so). An audio
    file's ``metadata.csv`` row goes with it unless ``keep_metadata``. Answers the spec's
    ``path`` (the file deleted) plus ``caption_path``/``metadata_path`` for what else went."""
    found = target(root, rel)
    sidecar = layout.sidecar_path(found.rel)
    # Confined before anything is deleted: a refused sidecar deletes nothing at all.
    side = target(root, sidecar) if with_caption and sidecar != found.rel else None
    if not found.rel or not found.path.is_file():
        if side is None or found.path.exists() or not side.path.is_file():
            raise NotFoundError(FILE_NOT_FOUND)
        _unlink(side.entry)
        note = f"{found.rel} was not found: only its caption {side.rel} was deleted"
        return {"path": side.rel, "caption_path": side.rel, "note": note}
    _unlink(found.entry)
    removed = {"path": found.rel}
    if side is not None:
        with contextlib.suppress(NotFoundError):
            _unlink(side.entry)
            removed["caption_path"] = side.rel
    audio = layout.file_kind(found.rel) == "audio"
    if audio and not keep_metadata and remove_metadata(root, found.rel, lock):
        removed["metadata_path"] = layout.METADATA_CSV
    return removed


def _same_id_audio_left(folder: Path, rel: str) -> bool:
    """True if another audio file beside ``rel`` has its row id (``a.wav`` and ``a.flac``)."""
    row_id = layout.metadata_id(rel)
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return any(
        layout.metadata_id(name) == row_id and layout.file_kind(name) == "audio" for name in names
    )


def remove_metadata(root: Path, rel: str, lock: threading.Lock) -> bool:
    """Drop the ``metadata.csv`` row of the deleted audio file ``rel``; True if one went. A row
    that another audio file of the same id still uses stays."""
    path = confine(root, layout.METADATA_CSV)
    with lock:
        if not path.is_file() or _same_id_audio_left(target(root, rel).entry.parent, rel):
            return False
        try:
            content = path.read_bytes().decode("utf-8", "surrogateescape")
            updated = layout.remove_metadata_row(content, layout.metadata_id(rel))
            if updated is None:
                return False
            atomic.atomic_write_bytes(path, updated.encode("utf-8", "surrogateescape"))
        except OSError as exc:
            raise ApiError(500, f"Failed to delete file: {exc.strerror or exc}") from exc
    return True
