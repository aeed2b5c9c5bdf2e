"""Typed domain errors.

Core code raises these; each edge renders them its own way: the CLI prints a one-line
``Error: ...`` and exits non-zero, the server renders the spec's ``{"error": "..."}``
with ``status``.

    DatasetyError           400  bad input the user can fix
     +-- ArgumentError      400  a command's argument, naming the parameter (``field``)
     +-- NotFoundError      404  a dataset, file or job that does not exist
     +-- AccessDeniedError  403  a path that escapes its dataset, a refused origin
     +-- ConflictError      409  the thing on disk changed under the caller
"""

from __future__ import annotations


class DatasetyError(Exception):
    """A problem with the caller's input, explained in one line."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ArgumentError(DatasetyError):
    """A bad argument of a command (a job's or a workflow step's): ``field`` is the
    parameter's name as ``GET /v1/commands`` shows it, so a form can show it beside it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(DatasetyError):
    status = 404


class AccessDeniedError(DatasetyError):
    status = 403


class ConflictError(DatasetyError):
    status = 409
