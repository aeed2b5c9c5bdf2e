"""``/v1/datasets/<id>/files``: listing, download, info, thumbnails, create, update, delete."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from datasety.core import layout
from datasety.core.errors import NotFoundError
from datasety.server import datasets
from datasety.server.bodies import is_json
from datasety.server.catalog.catalogs import Catalog
from datasety.server.catalog.catalogs import Query as ListingQuery
from datasety.server.curation import caption_targets, history
from datasety.server.errors import ApiError, error_responses
from datasety.server.files import downloads, json_upload, multipart, readwrite, thumbnails
from datasety.server.files.fsroot import DatasetRoot, fd_path
from datasety.server.files.security import clean_relative, confine

router = APIRouter(prefix="/v1/datasets/{dataset_id}/files", tags=["files"])

CHECK = Query(False, description="Refuse (422) an image that does not decode; nothing is stored")
NOTHING_TO_WRITE = "Nothing to write: send 'data', 'caption' or 'metadata'"


class FileItemOut(BaseModel):
    path: str
    name: str
    size_bytes: int
    extension: str
    file_type: str


class EntryOut(BaseModel):
    base: str
    name: str
    path: str
    files: list[FileItemOut]
    caption: str
    caption_path: str
    caption_source: str | None = None
    width: int | None = None
    height: int | None = None


class PairOut(BaseModel):
    base: str
    path: str
    input: str | None
    target: str | None
    mask: str | None
    canny: str | None
    pose: str | None
    seg: str | None
    depth: str | None
    normal: str | None
    image: str | None
    caption: str
    caption_path: str
    all_files: list[FileItemOut]
    width: int | None = None
    height: int | None = None


class ListingOut(BaseModel):
    files: list[EntryOut] | None = None
    pairs: list[PairOut] | None = None
    total: int


class FileInfoOut(BaseModel):
    path: str
    size_bytes: int
    caption: str | None = None
    caption_path: str | None = None
    metadata: str | None = None


class FileWrite(BaseModel):
    data: str | None = None
    caption: str | None = None
    metadata: str | None = None


class WriteOut(BaseModel):
    status: str
    path: str
    caption_path: str | None = None
    metadata_path: str | None = None
    note: str | None = None


WRITE_BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": FileWrite.model_json_schema()},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "description": "One file part (any field name) plus optional text fields",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "caption": {"type": "string"},
                        "metadata": {"type": "string"},
                    },
                    "required": ["file"],
                }
            },
        }
    }
}


def _dataset(request: Request, dataset_id: str) -> tuple[str, Path]:
    dataset = request.app.state.store.get_dataset(dataset_id)
    root = datasets.root_of(dataset)
    datasets.check_allowed(root, request.app.state.settings)
    return dataset.id, root


def _open(request: Request, dataset_id: str) -> tuple[str, DatasetRoot]:
    """The dataset's id and its folder, open (close it when done): every file path of the
    request is opened through it."""
    dataset_id, root = _dataset(request, dataset_id)
    return dataset_id, DatasetRoot(root)


async def _write_json(
    request: Request, dataset_id: str, root: DatasetRoot, rel: str, exclusive: bool, check: bool
) -> tuple[dict[str, str], bool]:
    """A JSON ``{data, caption, metadata}`` write, its base64 data decoded into the file as it
    streams in: the sidecar paths written, and whether the file's own data was."""
    body = json_upload.JsonWrite(request)
    await body.start()
    if body.has_data:
        chunks = body.data_chunks(_checker(root, rel))
        await readwrite.stream_upload(request, root, rel, exclusive, chunks, check)
    elif body.plan.empty:
        raise ApiError(400, NOTHING_TO_WRITE)
    if body.plan.empty:
        return {}, True
    lock = request.app.state.locks.get(dataset_id)
    plan, exclusive = body.plan, exclusive and not body.has_data
    written = await run_in_threadpool(
        readwrite.apply_write, root, rel, plan, lock, exclusive, _recorder(request, dataset_id)
    )
    return written, body.has_data


def _recorder(request: Request, dataset_id: str) -> Callable[[list[history.Change]], None]:
    """Records a write's caption changes in the caption history."""
    store = request.app.state.store

    def record(changes: list[history.Change]) -> None:
        history.record(store, dataset_id, changes, "put")

    return record


def _text_before(root: DatasetRoot, rel: str) -> tuple[str | None] | None:
    """For a caption file written as a file (the web UI edits a pair's caption so): its text
    now, for the caption history (``(None,)``: it does not exist); None for other files."""
    if layout.file_kind(rel) != "caption":
        return None
    return (caption_targets.read_many(root, [rel])[rel],)


def _record_text(
    request: Request,
    dataset_id: str,
    root: DatasetRoot,
    rel: str,
    before: tuple[str | None],
) -> None:
    after = caption_targets.read_many(root, [rel])[rel]
    change = history.Change(rel, rel, before[0], after)
    history.record(request.app.state.store, dataset_id, [change], "put")


def _checker(root: DatasetRoot, rel: str) -> Callable[[readwrite.WritePlan], Awaitable[None]]:
    """Checks a write's sidecars before its streamed data is installed."""

    async def check(plan: readwrite.WritePlan) -> None:
        await run_in_threadpool(readwrite.check_write, root, rel, plan)

    return check


async def _write_form(
    request: Request, dataset_id: str, root: DatasetRoot, rel: str, exclusive: bool, check: bool
) -> dict[str, str]:
    """A ``multipart/form-data`` write: its file part streamed to ``rel`` (the form's text
    fields checked before it is installed), then its caption/metadata; the sidecar paths."""
    form = multipart.FormUpload(request)
    chunks = form.file_chunks(_checker(root, rel))
    await readwrite.stream_upload(request, root, rel, exclusive, chunks, check)
    if form.plan.empty:
        return {}
    lock = request.app.state.locks.get(dataset_id)
    return await run_in_threadpool(
        readwrite.apply_write, root, rel, form.plan, lock, False, _recorder(request, dataset_id)
    )


def _noted(request: Request, dataset_id: str, *rels: str | None) -> None:
    catalog: Catalog | None = request.app.state.catalogs.peek(dataset_id)
    if catalog is not None:
        for rel in rels:
            if rel:
                catalog.note_write(rel)


@router.get(
    "",
    summary="List files",
    responses={200: {"model": ListingOut}, **error_responses(400, 403, 404)},
)
def list_files(
    request: Request,
    dataset_id: str,
    folder: str = Query("", description="Only files under this subfolder"),
    group: bool = Query(False, description="Answer {pairs: [...]} grouped by role"),
    q: str = Query("", description="Only entries whose folder, file names or caption contain this"),
    missing: Literal["caption"] | None = Query(None, description="Only entries without one"),
    limit: int | None = Query(None, ge=0, description="At most this many entries"),
    offset: int = Query(0, ge=0, description="Skip this many entries"),
    media: bool = Query(
        False, description="Only entries with an image, audio or video file (no metadata.csv)"
    ),
    sort: Literal["name", "size", "width", "height", "aspect", "mtime", "caption_length"]
    | None = Query(None, description="Order of the entries"),
    order: Literal["asc", "desc"] = Query("asc", description="Direction of sort"),
    dims: bool = Query(False, description="Add width and height of each entry's image"),
) -> Response:
    """Every file of the dataset grouped by base name, with captions; ``total`` counts the
    entries matching the filters before ``limit``/``offset``."""
    _, root = _dataset(request, dataset_id)
    folder_rel = ""
    if folder:
        path = confine(root, folder)
        if not path.is_dir():
            raise NotFoundError(f"Folder not found: {folder}")
        folder_rel = path.relative_to(root).as_posix() if path != root else ""
    query = ListingQuery(folder_rel, group, q, missing == "caption", limit, offset)
    query.media_only, query.sort, query.descending, query.dims = media, sort, order == "desc", dims
    catalog = request.app.state.catalogs.get(dataset_id, root)
    body = catalog.listing(query, downloads.accepts_gzip(request))
    headers = {"vary": "Accept-Encoding"}
    if body.gzipped:
        headers["content-encoding"] = "gzip"
    if body.data is not None:
        return Response(body.data, media_type="application/json", headers=headers)
    # The full listing: streamed, never whole in memory.
    assert body.chunks is not None
    if body.length is not None:
        headers["content-length"] = str(body.length)
    return StreamingResponse(body.chunks, media_type="application/json", headers=headers)


@router.get(
    "/{file_path:path}",
    summary="Download a file (or get info with ?info=true)",
    responses={
        200: {
            "description": "The file's bytes (Range and If-None-Match honoured), or its info",
            "content": {"application/octet-stream": {}, "application/json": {}},
            "model": FileInfoOut,
        },
        206: {"description": "Partial content for a Range request"},
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        **error_responses(400, 403, 404),
    },
)
async def get_file(
    request: Request,
    dataset_id: str,
    file_path: str,
    info: bool = Query(False, description="Answer the file's info as JSON instead"),
    thumb: int | None = Query(
        None,
        ge=thumbnails.THUMB_MIN,
        le=thumbnails.THUMB_MAX,
        description="Answer a cached JPEG/WebP thumbnail fitting this many pixels "
        "(rounded up to 32, 64, 128, 256, 512, 1024 or 2048)",
    ),
) -> Response:
    """The file's bytes, its info, or its thumbnail."""
    if info or thumb is not None:
        return await run_in_threadpool(_info_or_thumbnail, request, dataset_id, file_path, thumb)
    return download(request, dataset_id, file_path)


def download(request: Request, dataset_id: str, file_path: str) -> Response:
    """The file's bytes (also called by :mod:`datasety.server.fastpath`, on the event loop).

    A download stays on the event loop: a row read, a walk of a few cached folder entries
    and, for a small file, a read that only the page cache may answer (else it streams from
    a worker thread). A worker thread per request would cost more than all of that."""
    dataset_id, root = _open(request, dataset_id)
    with root:
        rel = clean_relative(file_path)
        fd = root.open_file(rel)
    return downloads.serve(request, fd, rel, on_loop=True)  # which closes fd when sent


def _info_or_thumbnail(
    request: Request, dataset_id: str, file_path: str, thumb: int | None
) -> Response:
    dataset_id, root = _open(request, dataset_id)
    with root:
        rel = clean_relative(file_path)
        fd = root.open_file(rel)
        try:
            if thumb is None:
                return JSONResponse(readwrite.info(root, rel, fd))
            cache = request.app.state.catalogs.thumbs_dir
            # The image is read through its open descriptor: the very file that was checked.
            path = thumbnails.thumbnail(cache, dataset_id, rel, fd_path(fd), thumb)
        finally:
            os.close(fd)
    return downloads.serve_path(request, path)


@router.post(
    "/{file_path:path}",
    status_code=201,
    summary="Create a new file (binary, base64, or sidecar caption/metadata)",
    responses={201: {"model": WriteOut}, **error_responses(400, 403, 404, 409, 413, 415, 422, 500)},
    openapi_extra=WRITE_BODY,
)
async def create_file(
    request: Request, dataset_id: str, file_path: str, check: bool = CHECK
) -> JSONResponse:
    """Raw bytes, JSON ``{data (base64), caption, metadata}``, or a ``multipart/form-data``
    form (one file part, optional ``caption`` and ``metadata`` fields); folders are created.
    With ``check=true`` an image that does not decode is refused (422), nothing stored."""
    dataset_id, root = await run_in_threadpool(_open, request, dataset_id)
    with root:
        rel = clean_relative(file_path)
        if not rel:
            raise ApiError(400, "Missing file path")
        await run_in_threadpool(root.check, rel)  # refused before a byte is read
        text_before = await run_in_threadpool(_text_before, root, rel)
        written: dict[str, str] = {}
        if is_json(request):
            written, data_written = await _write_json(request, dataset_id, root, rel, True, check)
        elif multipart.is_form(request):
            written = await _write_form(request, dataset_id, root, rel, True, check)
            data_written = True
        else:
            await readwrite.stream_upload(request, root, rel, exclusive=True, check=check)
            data_written = True
        if data_written and text_before is not None:
            await run_in_threadpool(_record_text, request, dataset_id, root, rel, text_before)
    # The catalog lock may be held by a listing: wait for it off the event loop.
    await run_in_threadpool(
        _noted, request, dataset_id, rel if data_written else None, *written.values()
    )
    return JSONResponse({"status": "created", "path": rel, **written}, status_code=201)


@router.put(
    "/{file_path:path}",
    summary="Update a file and/or its caption/metadata sidecars",
    responses={200: {"model": WriteOut}, **error_responses(400, 403, 404, 409, 413, 415, 422, 500)},
    openapi_extra=WRITE_BODY,
)
async def update_file(
    request: Request, dataset_id: str, file_path: str, check: bool = CHECK
) -> JSONResponse:
    """JSON ``{data (base64), caption, metadata}``, a ``multipart/form-data`` form (as for
    POST), or raw bytes with any other Content-Type to replace the file's content
    (``check=true``: as for POST)."""
    dataset_id, root = await run_in_threadpool(_open, request, dataset_id)
    with root:
        rel = clean_relative(file_path)
        await run_in_threadpool(readwrite.require_file, root, rel)
        text_before = await run_in_threadpool(_text_before, root, rel)
        written: dict[str, str] = {}
        content_type = request.headers.get("content-type")
        if content_type and multipart.is_form(request):
            written = await _write_form(request, dataset_id, root, rel, False, check)
            data_written = True
        elif content_type and not is_json(request):
            await readwrite.stream_upload(request, root, rel, exclusive=False, check=check)
            data_written = True
        else:
            # Without a Content-Type the body is JSON, as the reference server reads it.
            written, data_written = await _write_json(request, dataset_id, root, rel, False, check)
        if data_written and text_before is not None:
            await run_in_threadpool(_record_text, request, dataset_id, root, rel, text_before)
    # The catalog lock may be held by a listing: wait for it off the event loop.
    await run_in_threadpool(
        _noted, request, dataset_id, rel if data_written else None, *written.values()
    )
    return JSONResponse({"status": "saved", "path": rel, **written})


@router.delete(
    "/{file_path:path}",
    summary="Delete a file (add ?caption=true to also remove .txt sidecar)",
    responses={200: {"model": WriteOut}, **error_responses(400, 403, 404, 500)},
)
def delete_file(
    request: Request,
    dataset_id: str,
    file_path: str,
    caption: bool = Query(False, description="Also delete the .txt caption sidecar"),
    keep_metadata: bool = Query(
        False, description="Keep an audio file's metadata.csv row (removed by default)"
    ),
) -> JSONResponse:
    """Delete one file; with ``caption=true`` its ``.txt`` sidecar too (only the sidecar when
    the file itself is gone: ``path`` names what was deleted and ``note`` says why). Deleting
    an audio file removes its ``metadata.csv`` row unless ``keep_metadata=true``."""
    dataset_id, root = _open(request, dataset_id)
    lock = request.app.state.locks.get(dataset_id)
    with root:
        removed = readwrite.delete(root, file_path, caption, lock, keep_metadata)
    catalog: Catalog | None = request.app.state.catalogs.peek(dataset_id)
    if catalog is not None:
        for key in ("path", "caption_path"):
            if key in removed:
                catalog.note_delete(removed[key])
        if "metadata_path" in removed:
            catalog.note_write(removed["metadata_path"])
    return JSONResponse({"status": "deleted", **removed})
