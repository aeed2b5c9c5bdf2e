"""``GET /v1/commands``: every runnable command's parameters, from the one registry."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from datasety.commands.invocation import commands_schema

router = APIRouter(tags=["commands"])


class ParamOut(BaseModel):
    """One parameter: the spec's ``name``, ``help``, ``required``, ``choices``, ``default``,
    then additive keys, present where they apply."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The key to use in a job's args")
    help: str
    required: bool
    type: str = Field(
        description="string, integer, number, boolean, choice, path, tuple, or click's name"
    )
    choices: list[str] | None = None
    default: Any = None
    opts: list[str] | None = Field(None, description="The command-line flags, short ones too")
    secondary_opts: list[str] | None = Field(None, description="The negative flag (--no-x)")
    flag: bool | None = Field(None, description="An on/off switch: give true or false")
    multiple: bool | None = Field(None, description="Repeatable: give a list")
    nargs: int | None = Field(None, description="Values it takes at once, when not 1")
    positional: bool | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = Field(
        None, description="A regular expression the whole value matches (Python and JavaScript)"
    )
    pattern_hint: str | None = Field(None, description="The shape in words, e.g. WIDTHxHEIGHT")
    secret: bool | None = Field(
        None, description="A secret: a job refuses it (its command line is shown); set env"
    )
    env: str | None = Field(None, description="The server's environment variable for a secret")


class RuleOut(BaseModel):
    """A rule between parameters, checked on submit (400 with its message and ``field``)."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["one_of", "not_together", "requires"] = Field(
        description="one_of: at least one of params given; not_together: at most one; "
        "requires: when params[0] is given (or has a value in when), one of needs is given "
        "(or needs[0] has a value in needs_values)"
    )
    params: list[str]
    message: str
    field: str = Field(description="The parameter the message is shown beside")
    needs: list[str] | None = None
    when: list[str] | None = None
    needs_values: list[str] | None = None


class CommandOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    params: list[ParamOut]
    rules: list[RuleOut] = Field(description="Rules between parameters (given = set, not false)")


class CommandsOut(BaseModel):
    commands: dict[str, CommandOut] = Field(description="Every runnable command, by name")


@cache
def _schema() -> dict[str, Any]:
    # The registry cannot change while the server runs: derive the schema once.
    return commands_schema()


@router.get("/v1/commands", summary="Get command schemas", responses={200: {"model": CommandsOut}})
async def get_commands() -> JSONResponse:
    """Every command a job can run: description and params (name, help, required, choices,
    default, type, nargs where they apply), as ``invocation.commands_schema`` derives them."""
    return JSONResponse(_schema())
