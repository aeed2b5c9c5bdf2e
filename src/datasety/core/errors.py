"""Typed domain errors.

Core code raises these; each edge renders them its own way: the CLI prints a one-line
``Error: ...`` and exits non-zero, the server renders the spec's ``{"error": "..."}``
with ``status``.

    DatasetyError           400  bad input the user can fix
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


class NotFoundError(DatasetyError):
    status = 404


class AccessDeniedError(DatasetyError):
    status = 403


class ConflictError(DatasetyError):
    status = 409
