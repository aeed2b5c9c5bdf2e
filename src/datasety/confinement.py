"""Keeping the paths of a job inside the server's ``--root`` folders.

``datasety server --root DIR`` promises that the server touches nothing outside its roots, so
every path-valued argument of a job must resolve there too. Which parameters are paths comes
from the command registry: a parameter whose click type is a :class:`click.Path` holds a path
(see :mod:`datasety.commands.options`), and a :class:`~datasety.commands.options.TextOrPath`
(``shuffle --group``) is read as a file only when it names one, so it is checked only then.

A path is resolved like the command will see it: ``os.path.realpath`` follows every symlink
that exists and resolves ``..`` after it, so a link inside a root that points outside is
outside, and a path that does not exist yet is judged by its deepest existing parent.

A job's own working directory is the server's business (the local executor's is the server's,
a Ray job's is Ray's), so a relative path in a job's arguments is refused when there are roots
(``base=None``). A workflow step runs in the workflow's folder, which is known: there relative
paths resolve against it. The server hands its roots to every job in :data:`JOB_ROOTS_ENV`,
so a ``workflow`` job checks each step before running any.

What this cannot stop: a folder inside a root that a job may write can be swapped for a symlink
between the check and the write by someone who can already write inside the roots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from datasety.errors import DatasetyError

# JSON list of real paths: os.pathsep would split a root whose name holds ':'.
JOB_ROOTS_ENV = "DATASETY_JOB_ROOTS"
URL_PREFIXES = ("http://", "https://")


@dataclass(frozen=True)
class Confinement:
    """The roots (real paths) that path arguments must stay in, and the folder relative paths
    resolve against (None: relative paths are refused)."""

    roots: tuple[str, ...]
    base: str | None = None

    @classmethod
    def of(
        cls, roots: Iterable[str | os.PathLike[str]], base: str | None = None
    ) -> Confinement | None:
        """A confinement to ``roots``, or None when there are none (nothing to confine)."""
        real = tuple(os.path.realpath(root) for root in roots)
        return cls(real, base) if real else None

    def _real(self, value: str) -> str | None:
        if os.path.isabs(value):
            return os.path.realpath(value)
        if self.base is None:
            return None
        return os.path.realpath(os.path.join(self.base, value))

    def _inside(self, real: str) -> bool:
        path = Path(real)
        return any(path.is_relative_to(root) for root in self.roots)

    def path_problem(self, value: str) -> str | None:
        """Why ``value``, a path argument, may not be used; None when it may."""
        if "\x00" in value:
            return "must not contain a NUL byte"
        real = self._real(value)
        if real is None:
            return f"must be an absolute path inside a --root folder: {value}"
        if not self._inside(real):
            return f"must be inside a --root folder: {value}"
        return None

    def text_problem(self, value: str) -> str | None:
        """Why ``value``, text that is read as a file when it names one, may not be used."""
        if "\x00" in value or value.startswith(URL_PREFIXES):
            return None
        # Relative to our folder when there is no base: a local job runs in the server's.
        real = os.path.realpath(os.path.join(self.base or os.getcwd(), value))
        if os.path.isfile(real) and not self._inside(real):
            return f"names a file outside the --root folders: {value}"
        return None


def job_env(roots: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """The environment that tells a job's process the server's roots (empty without roots)."""
    real = [os.path.realpath(root) for root in roots]
    return {JOB_ROOTS_ENV: json.dumps(real)} if real else {}


def from_env(environ: Mapping[str, str], base: str) -> Confinement | None:
    """The confinement a job's server asked for in ``environ``, relative paths against
    ``base``; None when the process is not such a job."""
    raw = environ.get(JOB_ROOTS_ENV)
    if raw is None:
        return None
    try:
        roots = json.loads(raw)
    except ValueError:
        roots = None
    if not isinstance(roots, list) or not all(isinstance(r, str) and r for r in roots):
        # Fail closed: a job told to stay inside roots must not run unconfined.
        raise DatasetyError(f"{JOB_ROOTS_ENV} must be a JSON list of folders, got {raw!r}")
    if not roots:
        raise DatasetyError(f"{JOB_ROOTS_ENV} names no folder")
    return Confinement.of(roots, base)
