"""Reading and writing dataset files: confined paths, atomic writes, sidecars, metadata.csv.

Every path is opened through the dataset folder's descriptor (:class:`~datasety.server.files.fsroot.
DatasetRoot`): walked one component at a time without following a symlink it has not checked,
so a folder swapped for a symlink mid-request cannot send a read or a write outside. Every
write goes to a hidden temporary file in the destination folder and is renamed into place, so
a reader or a crash never sees half a file. ``metadata.csv`` updates are serialised per dataset.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from datasety.core import layout
from datasety.core.errors import ConflictError, DatasetyError, NotFoundError
from datasety.server.bodies import body_chunks, optional_str
from datasety.server.catalog.listing import CAPTION_READ_LIMIT
from datasety.server.curation import caption_home, caption_targets, history
from datasety.server.errors import ApiError
from datasety.server.files import fsroot, image_check
from datasety.server.files.fsroot import FILE_NOT_FOUND, DatasetRoot, Slot
from datasety.server.files.security import clean_relative

FILE_EXISTS = "File already exists (use PUT to replace it)"
NO_CAPTION_ON_TEXT = "A caption cannot be attached to a .txt file"
BAD_METADATA_ID = "A metadata.csv row cannot name a file with '|' or a line break in its name"


class DatasetLocks:
    """One lock per dataset id, for read-modify-write files such as ``metadata.csv``."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, dataset_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(dataset_id, threading.Lock())


def require_file(root: DatasetRoot, rel: str) -> None:
    """404 ``File not found`` unless ``rel`` is a regular file (403/400 as for any path)."""
    os.close(root.open_file(rel))


def find_caption(root: DatasetRoot, rel: str) -> tuple[str, str] | None:
    """The caption sidecar of ``rel`` (its own, else its group's) and its text, if one exists."""
    for candidate in layout.caption_candidates(rel):
        if candidate == rel:
            continue
        try:
            raw = root.read(candidate, CAPTION_READ_LIMIT)
        except NotFoundError:
            continue
        return candidate, raw.decode("utf-8", "replace")
    return None


def info(root: DatasetRoot, rel: str, fd: int) -> dict[str, Any]:
    """The spec's file info of ``rel`` (open as ``fd``): path, size, caption sidecar,
    metadata.csv row for audio."""
    out: dict[str, Any] = {"path": rel, "size_bytes": os.fstat(fd).st_size}
    caption = find_caption(root, rel)
    if caption is not None:
        out["caption_path"], out["caption"] = caption
    if layout.file_kind(rel) == "audio":
        row = caption_targets.metadata_rows(root).get(layout.metadata_id(rel))
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
        _check_row_text(metadata)
    # An empty "data" means "no file content", as in the reference server.
    return WritePlan(decode_base64(data) if data else None, caption, metadata)


def _failed(exc: OSError) -> DatasetyError:
    """The spec's 500 ``Failed to save file: ...``; a 409 when what is on disk is in the way
    (a folder where the file or its caption goes, or none left where it was), since that is no
    server failure."""
    message = f"Failed to save file: {exc.strerror or exc}"
    # FileNotFoundError: the folder was removed by someone else while we wrote into it.
    in_the_way = (IsADirectoryError, NotADirectoryError, FileExistsError, FileNotFoundError)
    if isinstance(exc, in_the_way):
        return ConflictError(message)
    return ApiError(500, message)


def _open_temp(slot: Slot, exclusive: bool) -> tuple[int, str]:
    """A new temporary file beside ``slot``'s name (409 first with ``exclusive`` if the name
    is taken): its descriptor, open for writing, and its name."""
    if exclusive and fsroot.exists(slot):
        raise ConflictError(FILE_EXISTS)
    return fsroot.write_new(slot)


def _commit(slot: Slot, fd: int, tmp: str, exclusive: bool) -> None:
    """fsync and close the temporary file, then move it onto ``slot``'s name; the temporary
    name is gone afterwards either way."""
    try:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsroot.install(slot, tmp, exclusive)
    finally:
        fsroot.remove_quietly(slot.fd, tmp)


@contextlib.contextmanager
def _saving(slot: Slot) -> Iterator[None]:
    """A file write into ``slot``: an OSError is the spec's save failure, and unless the block
    completes, the folders the walk made for it are removed again."""
    done = False
    try:
        yield
        done = True
    except OSError as exc:
        raise _failed(exc) from exc
    finally:
        if not done:
            slot.remove_made()


def _drop(slot: Slot, fd: int, tmp: str) -> None:
    """Abandon a temporary file that will not be committed."""
    os.close(fd)
    fsroot.remove_quietly(slot.fd, tmp)


def write_data(root: DatasetRoot, rel: str, data: bytes, exclusive: bool) -> None:
    """Write ``data`` to ``rel`` atomically, folders made (409 with ``exclusive`` if it
    exists); a refused write leaves no file and no folder behind."""
    with root.walk(rel, create=True) as slot, _saving(slot):
        fd, tmp = _open_temp(slot, exclusive)
        try:
            fsroot.write_all(fd, data)
        except BaseException:
            _drop(slot, fd, tmp)
            raise
        _commit(slot, fd, tmp, exclusive)


async def stream_upload(
    request: Request,
    root: DatasetRoot,
    rel: str,
    exclusive: bool,
    chunks: AsyncIterator[bytes] | None = None,
    check: bool = False,
) -> None:
    """Stream the request body (or ``chunks`` read from it, e.g. a form's file part) to
    ``rel`` through a temporary file; nothing is left behind (file or folder) if the body is
    short, too large, refused, or the client goes away.

    With ``check``, an image is decoded before it is installed: one that does not decode is
    refused (422) and nothing is stored."""
    slot: Slot = await run_in_threadpool(lambda: root.walk(rel, create=True))
    with slot, _saving(slot):
        fd, tmp = _open_temp(slot, exclusive)
        try:
            async for chunk in chunks if chunks is not None else body_chunks(request):
                fsroot.write_all(fd, chunk)
        except BaseException:
            _drop(slot, fd, tmp)
            raise
        if check and layout.file_kind(rel) == "image":
            problem = await run_in_threadpool(image_check.problem, fsroot.fd_path(fd))
            if problem is not None:
                _drop(slot, fd, tmp)
                raise image_check.UnreadableImageError(image_check.message(rel, problem))
        # fsync can take seconds for a big file: keep it off the event loop.
        await run_in_threadpool(_commit, slot, fd, tmp, exclusive)


def _replace(root: DatasetRoot, rel: str, data: bytes) -> None:
    """Replace (or create) ``rel`` with ``data`` atomically, folders made."""
    with root.walk(rel, create=True) as slot:
        try:
            fsroot.write_atomic(slot, data)
        except OSError as exc:
            raise _failed(exc) from exc


def write_caption(root: DatasetRoot, rel: str, text: str, sidecar: str | None = None) -> str:
    """Write the ``.txt`` caption of ``rel`` (to ``sidecar``, else beside it); returns the
    caption file's dataset path."""
    if layout.sidecar_path(rel) == rel:
        raise DatasetyError(NO_CAPTION_ON_TEXT)
    sidecar = sidecar or layout.sidecar_path(rel)
    _replace(root, sidecar, text.encode("utf-8"))
    return sidecar


def _check_row_text(text: str) -> None:
    layout.check_metadata_text(text)
    if not one_field(text):
        raise DatasetyError("metadata text must not contain '|' or line breaks")


def _metadata_content(root: DatasetRoot) -> str | None:
    try:
        raw = root.read(layout.METADATA_CSV)
    except NotFoundError:
        return None
    # surrogateescape: bytes that are not UTF-8 in other rows are written back as-is.
    return raw.decode("utf-8", "surrogateescape")


def write_metadata(root: DatasetRoot, rel: str, text: str, lock: threading.Lock) -> str:
    """Set the ``metadata.csv`` row of ``rel`` (added if missing); other rows stay byte for
    byte. Serialised by the dataset's ``lock``."""
    with lock:
        try:
            content = _metadata_content(root) or ""
        except OSError as exc:
            raise _failed(exc) from exc
        updated = layout.set_metadata_row(content, layout.metadata_id(rel), text)
        _replace(root, layout.METADATA_CSV, updated.encode("utf-8", "surrogateescape"))
    return layout.METADATA_CSV


def check_write(root: DatasetRoot, rel: str, plan: WritePlan) -> None:
    """Refuse (before anything is written) the sidecars of ``plan`` that ``rel`` cannot have."""
    to_row = plan.metadata is not None
    if plan.caption is not None:
        if layout.sidecar_path(rel) == rel:
            raise DatasetyError(NO_CAPTION_ON_TEXT)
        home = caption_home.destination(root, rel)
        if home == caption_home.METADATA:
            _check_row_text(plan.caption)
            to_row = True
        else:
            root.check(home)
    if to_row:
        if not one_field(layout.metadata_id(rel)):
            raise DatasetyError(BAD_METADATA_ID)
        root.check(layout.METADATA_CSV)
        try:
            content = _metadata_content(root)
        except OSError as exc:
            raise _failed(exc) from exc
        # A new clip in a multi-speaker file has no speaker: refused before its data lands.
        layout.check_new_row(content or "", layout.metadata_id(rel))


def apply_write(
    root: DatasetRoot,
    rel: str,
    plan: WritePlan,
    lock: threading.Lock,
    exclusive: bool,
    record: Callable[[list[history.Change]], None] | None = None,
) -> dict[str, str]:
    """Carry out a validated JSON write to ``rel``; returns the sidecar paths it wrote.
    ``record`` is given the caption changes made (the caption history)."""
    written: dict[str, str] = {}
    targets = []
    if plan.caption is not None:
        targets.append(caption_targets.target_for(root, rel))
    if plan.metadata is not None:
        targets.append(caption_targets.row_target(rel))
    before = caption_targets.read_many(root, targets) if record and targets else {}
    # Checked before the data is written, so a refused sidecar writes nothing at all.
    check_write(root, rel, plan)
    if plan.data is not None:
        write_data(root, rel, plan.data, exclusive)
    elif rel:
        root.walk(rel, create=True).close()  # its folders, as a data write would make them
    if plan.caption is not None:
        # The dataset's convention: a transcript goes to metadata.csv, a pair's caption to
        # where the other pairs keep theirs (datasety.server.curation.caption_home).
        home = caption_home.destination(root, rel)
        if home == caption_home.METADATA:
            written["metadata_path"] = write_metadata(root, rel, plan.caption, lock)
        else:
            written["caption_path"] = write_caption(root, rel, plan.caption, home)
    if plan.metadata is not None:
        written["metadata_path"] = write_metadata(root, rel, plan.metadata, lock)
    if record is not None and targets:
        after = caption_targets.read_many(root, targets)
        record([history.Change(t, rel, before[t], after[t]) for t in targets])
    return written


def _unlink(root: DatasetRoot, rel: str) -> None:
    """Remove the entry ``rel`` itself (a symlink, never its target)."""
    try:
        with root.walk(rel, follow_last=False) as slot:
            os.unlink(slot.entry, dir_fd=slot.fd)
    except FileNotFoundError:
        raise NotFoundError(FILE_NOT_FOUND) from None
    except OSError as exc:
        raise ApiError(500, f"Failed to delete file: {exc.strerror or exc}") from exc


def _present(root: DatasetRoot, rel: str) -> bool:
    """True if something (a file, a folder, a link) is at ``rel``."""
    try:
        with root.walk(rel) as slot:
            return slot.name is None or fsroot.exists(slot)
    except NotFoundError:
        return False


def delete(
    root: DatasetRoot, rel: str, with_caption: bool, lock: threading.Lock, keep_metadata: bool
) -> dict[str, str]:
    """Delete the file ``rel`` (a symlink itself, never its target); with ``with_caption`` its
    ``.txt`` sidecar too, and that alone when the file is gone (``note`` says so). An audio
    file's ``metadata.csv`` row goes with it unless ``keep_metadata``. Answers the spec's
    ``path`` (the file deleted) plus ``caption_path``/``metadata_path`` for what else went."""
    rel = clean_relative(rel)
    sidecar = layout.sidecar_path(rel)
    with_side = with_caption and sidecar != rel
    if with_side:
        root.check(sidecar)  # refused before anything is deleted: nothing is, then
    if not rel or not root.is_file(rel):
        if not with_side or _present(root, rel) or not root.is_file(sidecar):
            raise NotFoundError(FILE_NOT_FOUND)
        _unlink(root, sidecar)
        note = f"{rel} was not found: only its caption {sidecar} was deleted"
        return {"path": sidecar, "caption_path": sidecar, "note": note}
    _unlink(root, rel)
    removed = {"path": rel}
    if with_side and root.is_file(sidecar):
        try:
            _unlink(root, sidecar)
            removed["caption_path"] = sidecar
        except NotFoundError:
            pass  # deleted by someone else meanwhile
    audio = layout.file_kind(rel) == "audio"
    if audio and not keep_metadata and remove_metadata(root, rel, lock):
        removed["metadata_path"] = layout.METADATA_CSV
    return removed


def _same_id_audio_left(root: DatasetRoot, rel: str) -> bool:
    """True if another audio file beside ``rel`` has its row id (``a.wav`` and ``a.flac``)."""
    row_id = layout.metadata_id(rel)
    try:
        with root.walk(rel, follow_last=False) as slot:
            names = fsroot.list_names(slot.fd)
    except (NotFoundError, OSError):
        return False
    return any(
        layout.metadata_id(name) == row_id and layout.file_kind(name) == "audio" for name in names
    )


def remove_metadata(root: DatasetRoot, rel: str, lock: threading.Lock) -> bool:
    """Drop the ``metadata.csv`` row of the deleted audio file ``rel``; True if one went. A row
    that another audio file of the same id still uses stays."""
    with lock:
        try:
            content = _metadata_content(root)
        except OSError as exc:
            raise ApiError(500, f"Failed to delete file: {exc.strerror or exc}") from exc
        if content is None or _same_id_audio_left(root, rel):
            return False
        updated = layout.remove_metadata_row(content, layout.metadata_id(rel))
        if updated is None:
            return False
        _replace(root, layout.METADATA_CSV, updated.encode("utf-8", "surrogateescape"))
    return True
