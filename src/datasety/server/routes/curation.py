"""Curation: bulk operations and their undo, caption history and restore (issue 17).

Shapes in docs/api-additions.md; the work is in :mod:`datasety.server.curation.bulk` and
:mod:`datasety.server.curation.history`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from datasety.core import layout
from datasety.server import datasets
from datasety.server.bodies import read_json_object
from datasety.server.catalog import stats
from datasety.server.catalog.catalogs import Catalog
from datasety.server.curation import bulk, caption_targets, history
from datasety.server.errors import error_responses
from datasety.server.files.fsroot import DatasetRoot
from datasety.server.files.security import clean_relative

router = APIRouter(prefix="/v1/datasets/{dataset_id}", tags=["curation"])

# -- the shapes of requests and answers, for /openapi.json (the handlers build plain dicts) --


class BulkSelect(BaseModel):
    paths: list[str] | None = Field(None, description="Any file of each entry")
    filter: dict[str, Any] | None = Field(
        None, description="As the listing's params: q, folder, missing ('caption'), media"
    )


class BulkRequest(BaseModel):
    """``POST .../bulk``: one operation over a selection."""

    select: BulkSelect
    op: str = Field(description="set, prefix, suffix, remove_tag, replace, delete or move")
    text: str | None = Field(None, description="set, prefix, suffix")
    tag: str | None = Field(None, description="remove_tag")
    find: str | None = Field(None, description="replace")
    replace: str | None = Field(None, description="replace")
    regex: bool = Field(False, description="replace: find is a Python regular expression")
    ignore_case: bool = False
    folder: str | None = Field(None, description="move: the destination folder")
    preview: bool = Field(False, description="Answer the changes without writing")


class BulkItem(BaseModel):
    path: str
    status: str = Field(description="change (preview), ok, unchanged or error")
    caption_path: str | None = None
    before: str | None = None
    after: str | None = None
    files: list[str] | None = None
    to: list[str] | None = None
    error: str | None = None


class BulkOut(BaseModel):
    op: str
    total: int
    changed: int
    preview: bool | None = None
    id: str | None = Field(None, description="The operation id (undo); null if nothing changed")
    failed: int | None = None
    items: list[BulkItem]


class OperationOut(BaseModel):
    id: str
    op: str
    params: dict[str, Any]
    items: int
    created_at: float
    undone_at: float | None


class OperationList(BaseModel):
    operations: list[OperationOut]


class UndoOut(BaseModel):
    id: str
    status: str
    restored: int


class VersionOut(BaseModel):
    id: int
    text: str | None
    before: str | None
    source: str
    operation: str | None
    created_at: float


class HistoryOut(BaseModel):
    path: str
    caption_path: str
    current: str | None
    versions: list[VersionOut]


class RestoreOut(BaseModel):
    status: str
    path: str
    caption_path: str
    text: str | None


class CountOut(BaseModel):
    count: int


class ResolutionOut(CountOut):
    width: int
    height: int


class RatioOut(CountOut):
    ratio: str


class WordOut(CountOut):
    word: str


class TagOut(CountOut):
    tag: str


class StatsOut(BaseModel):
    entries: int = Field(description="Entries with an image, audio or video file")
    files: int
    kinds: dict[str, int]
    captions: dict[str, Any] = Field(
        description="with, without, coverage (0-1), and datasety inspect's caption statistics"
    )
    resolutions: list[ResolutionOut]
    aspect_ratios: list[RatioOut]
    top_words: list[WordOut]
    top_tags: list[TagOut]
    lint: dict[str, list[Any]] | None = Field(
        None, description="With lint=true: datasety inspect's findings"
    )


class FolderOut(BaseModel):
    path: str = Field(description='Relative to the dataset ("" for its own folder)')
    entries: int = Field(description="Media entries directly in it (as the listing's folder)")


class FoldersOut(BaseModel):
    folders: list[FolderOut]


def _json_body(model: type[BaseModel]) -> dict[str, object]:
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# -- helpers ----------------------------------------------------------------------------------


def _open(request: Request, dataset_id: str) -> tuple[str, DatasetRoot, Catalog]:
    dataset = request.app.state.store.get_dataset(dataset_id)
    root = datasets.root_of(dataset)
    datasets.check_allowed(root, request.app.state.settings)
    catalog: Catalog = request.app.state.catalogs.get(dataset.id, root)
    return dataset.id, DatasetRoot(root), catalog


def _context(request: Request, dataset_id: str, catalog: Catalog) -> bulk.Context:
    state = request.app.state
    return bulk.Context(
        state.store,
        dataset_id,
        state.settings.data_dir,
        state.locks.get(dataset_id),
        catalog.note_write,
    )


def _bulk(request: Request, dataset_id: str, parsed: bulk.Request) -> dict[str, Any]:
    dataset_id, root, catalog = _open(request, dataset_id)
    with root:
        entries = bulk.select(catalog, root, parsed)
        return bulk.run(catalog, root, entries, parsed, _context(request, dataset_id, catalog))


def _undo(request: Request, dataset_id: str, operation_id: str) -> dict[str, Any]:
    dataset_id, root, catalog = _open(request, dataset_id)
    with root:
        return bulk.undo(root, operation_id, _context(request, dataset_id, catalog))


def _target(root: DatasetRoot, path: str) -> str:
    rel = clean_relative(path)
    if rel.startswith(caption_targets.ROW_PREFIX) or layout.file_kind(rel) == "caption":
        return rel
    return caption_targets.target_for(root, rel)


def _history(request: Request, dataset_id: str, path: str) -> dict[str, Any]:
    dataset_id, root, _ = _open(request, dataset_id)
    with root:
        target = _target(root, path)
        current = caption_targets.read_many(root, [target])[target]
    store = request.app.state.store
    versions = history.versions(store, dataset_id, target)
    return {"path": path, "caption_path": target, "current": current, "versions": versions}


def _restore(request: Request, dataset_id: str, version_id: int) -> dict[str, Any]:
    dataset_id, root, catalog = _open(request, dataset_id)
    store = request.app.state.store
    change, _ = history.version(store, dataset_id, version_id)
    with root:
        before = caption_targets.read_many(root, [change.target])[change.target]
        lock = request.app.state.locks.get(dataset_id)
        caption_targets.write_many(root, {change.target: change.after}, lock)
    restored = history.Change(change.target, change.item, before, change.after)
    history.record(store, dataset_id, [restored], "restore")
    catalog.note_write(bulk.file_of(change.target))
    return {
        "status": "restored",
        "path": change.item,
        "caption_path": change.target,
        "text": change.after,
    }


def _stats(request: Request, dataset_id: str, top: int, lint: bool) -> dict[str, Any]:
    _, root, catalog = _open(request, dataset_id)
    root.close()
    out = stats.dataset_stats(catalog, top)
    if lint:
        out["lint"] = stats.lint(catalog.root)
    return out


def _folders(request: Request, dataset_id: str) -> dict[str, Any]:
    _, root, catalog = _open(request, dataset_id)
    root.close()
    return {"folders": stats.folder_counts(catalog)}


# -- routes -----------------------------------------------------------------------------------


@router.get(
    "/folders",
    summary="The folders holding media entries, with their counts",
    responses={200: {"model": FoldersOut}, **error_responses(403, 404)},
)
async def get_folders(request: Request, dataset_id: str) -> JSONResponse:
    """Each folder with media entries directly in it (path order), from the listing's
    catalog: what a folder tree needs, without reading the whole listing."""
    return JSONResponse(await run_in_threadpool(_folders, request, dataset_id))


@router.get(
    "/stats",
    summary="Counts, caption coverage, histograms, top words/tags (and lint findings)",
    responses={200: {"model": StatsOut}, **error_responses(400, 403, 404)},
)
async def get_stats(
    request: Request,
    dataset_id: str,
    top: int = Query(50, ge=1, le=1000, description="Length of the word and tag lists"),
    lint: bool = Query(False, description="Add datasety inspect's findings (decodes every image)"),
) -> JSONResponse:
    """The dataset's statistics, from the listing's catalog (image headers, no decoding)."""
    return JSONResponse(await run_in_threadpool(_stats, request, dataset_id, top, lint))


@router.post(
    "/bulk",
    summary="Preview or apply one operation over many entries",
    responses={200: {"model": BulkOut}, **error_responses(400, 403, 404)},
    openapi_extra=_json_body(BulkRequest),
)
async def post_bulk(request: Request, dataset_id: str) -> JSONResponse:
    """Caption set/prefix/suffix/remove_tag/replace, delete (to the trash) or move, over
    explicit paths or a listing filter; ``preview: true`` writes nothing."""
    parsed = bulk.parse(await read_json_object(request, empty_ok=False))
    return JSONResponse(await run_in_threadpool(_bulk, request, dataset_id, parsed))


@router.get(
    "/operations",
    summary="Recent bulk operations, newest first",
    responses={200: {"model": OperationList}, **error_responses(404)},
)
def list_operations(request: Request, dataset_id: str) -> JSONResponse:
    """The dataset's recent operations (undone ones carry ``undone_at``)."""
    store = request.app.state.store
    store.get_dataset(dataset_id)
    return JSONResponse({"operations": history.operations(store, dataset_id)})


@router.post(
    "/operations/{operation_id}/undo",
    summary="Undo a bulk operation as one step",
    responses={200: {"model": UndoOut}, **error_responses(403, 404, 409)},
)
async def undo_operation(request: Request, dataset_id: str, operation_id: str) -> JSONResponse:
    """Put back every caption and file the operation changed; 409 (nothing undone) when one
    changed since, or the operation was undone already."""
    return JSONResponse(await run_in_threadpool(_undo, request, dataset_id, operation_id))


@router.get(
    "/history",
    summary="The recorded caption versions of an item",
    responses={200: {"model": HistoryOut}, **error_responses(400, 403, 404)},
)
async def get_history(
    request: Request,
    dataset_id: str,
    path: str = Query(description="The media file or its caption file"),
) -> JSONResponse:
    """Every recorded caption change of ``path``, newest first, and its current caption."""
    return JSONResponse(await run_in_threadpool(_history, request, dataset_id, path))


@router.post(
    "/history/{version_id}/restore",
    summary="Set a caption back to a recorded version",
    responses={200: {"model": RestoreOut}, **error_responses(400, 403, 404)},
)
async def restore_version(request: Request, dataset_id: str, version_id: int) -> JSONResponse:
    """Write that version's text (recorded as a new version, source ``restore``)."""
    return JSONResponse(await run_in_threadpool(_restore, request, dataset_id, version_id))
