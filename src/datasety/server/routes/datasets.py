"""``/v1/datasets``: register, list, show, rename, unregister."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from datasety.server import datasets
from datasety.server.bodies import SMALL_JSON_LIMIT, optional_str, read_json_object
from datasety.server.errors import ApiError, error_responses
from datasety.server.store import Dataset, Store

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


class DatasetOut(BaseModel):
    id: str
    name: str
    path: str
    type: str
    created_at: float


class DatasetList(BaseModel):
    datasets: list[DatasetOut]


class DatasetCreate(BaseModel):
    path: str
    name: str | None = None


class DatasetPatch(BaseModel):
    name: str | None = None


class StatusOut(BaseModel):
    status: str


def _json_body(model: type[BaseModel]) -> dict[str, object]:
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _out(dataset: Dataset, status: int = 200) -> JSONResponse:
    return JSONResponse(dataset.to_json(), status_code=status)


@router.post(
    "",
    status_code=201,
    summary="Register a dataset (a folder already registered answers its dataset with 200)",
    responses={
        201: {"model": DatasetOut},
        200: {"model": DatasetOut, "description": "The folder was registered before"},
        **error_responses(400, 403),
    },
    openapi_extra=_json_body(DatasetCreate),
)
async def create_dataset(request: Request) -> JSONResponse:
    """Register a folder; its type (image, audio, video, generic) is detected. Registering
    a folder again (by any path that resolves to it) answers the existing dataset, 200."""
    body = await read_json_object(request, limit=SMALL_JSON_LIMIT)
    path = optional_str(body, "path")
    if not path:
        raise ApiError(400, "Missing 'path' in payload")
    name = optional_str(body, "name")
    settings = request.app.state.settings
    dataset, created = await run_in_threadpool(
        datasets.register, _store(request), settings, path, name
    )
    # A folder registered before: its dataset as it is (200), never a second one.
    return _out(dataset, 201 if created else 200)


@router.get("", summary="List all datasets", responses={200: {"model": DatasetList}})
def list_datasets(request: Request) -> JSONResponse:
    """Every registered dataset, oldest first."""
    return JSONResponse({"datasets": [d.to_json() for d in _store(request).list_datasets()]})


@router.get(
    "/{dataset_id}",
    summary="Get dataset info",
    responses={200: {"model": DatasetOut}, **error_responses(404)},
)
def get_dataset(request: Request, dataset_id: str) -> JSONResponse:
    """One dataset."""
    return _out(_store(request).get_dataset(dataset_id))


@router.patch(
    "/{dataset_id}",
    summary="Update dataset name",
    responses={200: {"model": DatasetOut}, **error_responses(400, 404)},
    openapi_extra=_json_body(DatasetPatch),
)
async def patch_dataset(request: Request, dataset_id: str) -> JSONResponse:
    """Rename a dataset; a body without ``name`` changes nothing."""
    body = await read_json_object(request, limit=SMALL_JSON_LIMIT)
    name = optional_str(body, "name")
    store = _store(request)
    if name is None:
        return _out(store.get_dataset(dataset_id))
    if not name.strip():
        raise ApiError(400, "'name' must not be empty")
    return _out(store.rename_dataset(dataset_id, name.strip()))


@router.delete(
    "/{dataset_id}",
    summary="Unregister dataset",
    responses={200: {"model": StatusOut}, **error_responses(404)},
)
def delete_dataset(request: Request, dataset_id: str) -> JSONResponse:
    """Forget a dataset; its files stay on disk."""
    _store(request).delete_dataset(dataset_id)
    request.app.state.catalogs.forget(dataset_id)
    return JSONResponse({"status": "deleted"})
