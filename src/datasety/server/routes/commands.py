"""``GET /v1/commands``: every runnable command's parameters, from the one registry."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from datasety.invocation import commands_schema

router = APIRouter(tags=["commands"])


@cache
def _schema() -> dict[str, Any]:
    # The registry cannot change while the server runs: derive the schema once.
    return commands_schema()


@router.get("/v1/commands", summary="Get command schemas")
async def get_commands() -> JSONResponse:
    """Every command a job can run: description and params (name, help, required, choices,
    default, type, nargs where they apply), as ``invocation.commands_schema`` derives them."""
    return JSONResponse(_schema())
