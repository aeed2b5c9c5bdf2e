"""One error path: every failure becomes the spec's ``{"error": "..."}`` with its status.

Core code raises :class:`datasety.core.errors.DatasetyError` subclasses (their ``status`` is
the HTTP status); routes raise :class:`ApiError` for HTTP-only cases (413, 401, ...). Routing errors
(unknown path, wrong method) and query validation errors land in the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from datasety.core.errors import ArgumentError, DatasetyError

log = logging.getLogger("datasety.server")

ENDPOINT_NOT_FOUND = "Endpoint not found"
METHOD_NOT_ALLOWED = "Method not allowed"
INTERNAL_ERROR = "Internal server error"


class ApiError(DatasetyError):
    """An error with an explicit HTTP status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


class ErrorBody(BaseModel):
    """The shape of every error response."""

    error: str
    field: str | None = Field(
        None, description="POST /v1/jobs: the argument (a name of GET /v1/commands) it is about"
    )


_DESCRIPTIONS = {
    400: "Bad request (invalid JSON, wrongly typed field, bad query value, bad path)",
    401: "Missing or wrong bearer token",
    403: "Access denied (path traversal, path outside the allowed roots, refused Host)",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict (the file already exists)",
    413: "Request body over the size limit",
    415: "Unsupported media type (a multipart type other than multipart/form-data)",
    422: "Unprocessable content (an image that does not decode)",
    500: "Internal error (e.g. failed to save or delete a file)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error statuses it can answer, all ``{"error": ...}``."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


def error_response(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    field: str | None = None,
) -> JSONResponse:
    """The one rendering of an error (``field``: the job argument it is about, additive)."""
    # A message may quote the client's text; one that is not valid Unicode (a lone surrogate)
    # would make the rendering itself fail.
    safe = message.encode("utf-8", "replace").decode("utf-8")
    body = {"error": safe}
    if field is not None:
        body["field"] = field.encode("utf-8", "replace").decode("utf-8")
    return JSONResponse(body, status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DatasetyError)
    field = exc.field if isinstance(exc, ArgumentError) else None
    return error_response(exc.status, exc.message, getattr(exc, "headers", None), field)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = ENDPOINT_NOT_FOUND
    elif exc.status_code == 405:
        message = METHOD_NOT_ALLOWED
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(400, "Invalid request")
    first = errors[0]
    name = first.get("loc", ("?",))[-1]
    return error_response(400, f"Invalid value for '{name}': {first.get('msg', 'invalid')}")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Logged with its traceback for the operator; the client gets the shape, not the details.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, INTERNAL_ERROR)


def install_error_handlers(app: FastAPI) -> None:
    """Route every kind of failure through :func:`error_response`, and document it."""
    document_errors(app)
    app.add_exception_handler(DatasetyError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


def document_errors(app: FastAPI) -> None:
    """Make /openapi.json tell the truth: validation errors are 400 ``{"error"}``, not 422."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        error_ref = {"$ref": "#/components/schemas/ErrorBody"}
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None and "400" not in responses:
                    responses["400"] = {
                        "description": _DESCRIPTIONS[400],
                        "content": {"application/json": {"schema": error_ref}},
                    }
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
