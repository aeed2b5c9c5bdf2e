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

URLs: ``shuffle --group http://...`` makes the command fetch the URL. Given by a client, that
is the server fetching whatever the client asks (loopback and metadata addresses included), so
a server's jobs may not name URLs unless it was started with ``--allow-job-urls``, and never
under ``--root``. The server hands that policy to its jobs in :data:`JOB_URLS_ENV` too, so a
``workflow`` job refuses such a step before running any.

The server checks a job's paths when it is submitted and again when it starts (a queued job
waits, and a folder may become a symlink meanwhile). What this cannot stop: a folder inside a
root that a running job writes can be swapped for a symlink by someone who can already write
inside the roots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from datasety.core.errors import DatasetyError

# JSON list of real paths: os.pathsep would split a root whose name holds ':'.
JOB_ROOTS_ENV = "DATASETY_JOB_ROOTS"
# "0" in a job's environment: the job may not fetch a URL it was given (shuffle --group).
JOB_URLS_ENV = "DATASETY_JOB_URLS"
# Set by every executor in a job's environment: the process is a server's job.
JOB_ID_ENV = "DATASETY_JOB_ID"
URL_PREFIXES = ("http://", "https://")


@dataclass(frozen=True)
class Confinement:
    """What a job's arguments may name: paths inside ``roots`` (real paths; none: any path),
    relative ones resolved against ``base`` (None: refused), and whether a URL may be given
    for the command to fetch (``urls``)."""

    roots: tuple[str, ...]
    base: str | None = None
    urls: bool = True

    @classmethod
    def of(
        cls,
        roots: Iterable[str | os.PathLike[str]],
        base: str | None = None,
        urls: bool = True,
    ) -> Confinement | None:
        """A confinement to ``roots``, or None when there is nothing to confine. Under roots
        no URL is ever fetched: the server promised to reach nothing beyond them."""
        real = tuple(os.path.realpath(root) for root in roots)
        if real:
            return cls(real, base, urls=False)
        return None if urls else cls((), base, urls=False)

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
        if not self.roots:
            return None
        real = self._real(value)
        if real is None:
            return f"must be an absolute path inside a --root folder: {value}"
        if not self._inside(real):
            return f"must be inside a --root folder: {value}"
        return None

    def text_problem(self, value: str) -> str | None:
        """Why ``value``, text that is read as a file when it names one (and fetched when it
        is an http(s) URL), may not be used."""
        if "\x00" in value:
            return None
        if value.startswith(URL_PREFIXES):
            return None if self.urls else self._url_refusal(value)
        if not self.roots:
            return None
        # Relative to our folder when there is no base: a local job runs in the server's.
        real = os.path.realpath(os.path.join(self.base or os.getcwd(), value))
        if os.path.isfile(real) and not self._inside(real):
            return f"names a file outside the --root folders: {value}"
        return None

    def _url_refusal(self, value: str) -> str:
        why = (
            "a server with --root fetches no URL"
            if self.roots
            else "this server fetches no URL for a job (start it with --allow-job-urls to allow it)"
        )
        return f"must not be a URL: {why}: {value}"


def job_env(roots: Iterable[str | os.PathLike[str]], urls: bool = True) -> dict[str, str]:
    """The environment that tells a job's process the server's roots and whether it may
    fetch URLs (empty when neither is confined)."""
    real = [os.path.realpath(root) for root in roots]
    env = {JOB_ROOTS_ENV: json.dumps(real)} if real else {}
    if real or not urls:
        env[JOB_URLS_ENV] = "0"
    return env


def from_env(environ: Mapping[str, str], base: str) -> Confinement | None:
    """The confinement a job's server asked for in ``environ``, relative paths against
    ``base``; None when the process is not such a job."""
    urls = environ.get(JOB_URLS_ENV) != "0"
    raw = environ.get(JOB_ROOTS_ENV)
    if raw is None:
        return Confinement.of((), base, urls)
    try:
        roots = json.loads(raw)
    except ValueError:
        roots = None
    if not isinstance(roots, list) or not all(isinstance(r, str) and r for r in roots):
        # Fail closed: a job told to stay inside roots must not run unconfined.
        raise DatasetyError(f"{JOB_ROOTS_ENV} must be a JSON list of folders, got {raw!r}")
    if not roots:
        raise DatasetyError(f"{JOB_ROOTS_ENV} names no folder")
    return Confinement.of(roots, base, urls)
