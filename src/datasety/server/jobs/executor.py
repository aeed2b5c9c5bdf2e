"""The executor interface: the three things the runner asks of whatever runs a job.

The runner owns everything else (queue, slots, statuses, cancel deadlines, logs, retention),
so an executor stays small: :class:`local.LocalExecutor` runs subprocesses on this machine;
a Ray executor would submit the same argv to a cluster and implement the same methods.

Every method is called from the server's event loop and must return quickly (no waiting on
the job): ``watch`` is a poll, ``stop`` only sends a signal. An executor whose work blocks
(the Ray executor's HTTP calls) does it off the loop and answers from what it last learnt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Handle:
    """Where a started job runs, as stored in its row (``pid``, ``pgid``).

    A local job always has both. A job on a cluster has neither (None): its executor finds it
    again from ``job_id`` alone (the Ray executor's submission id is derived from it).
    """

    job_id: str
    pid: int | None = None
    pgid: int | None = None


@dataclass(frozen=True)
class Outcome:
    """How a job ended. ``exit_code`` is None when the process is gone and nobody recorded
    its status (killed together with its wrapper, or lost while no server was watching).
    ``error`` is a one-line reason when the executor knows why a job failed without an exit
    code of its own (a cluster that refused the job or was lost)."""

    exit_code: int | None
    error: str | None = None


class Executor(Protocol):
    """Start, watch and stop jobs. Output goes to the job's log file (see ``logs.log_path``)."""

    def start(self, job_id: str, argv: list[str], env: Mapping[str, str] | None = None) -> Handle:
        """Start ``argv`` for job ``job_id`` with ``env`` added to its environment (the GPU it
        may use); raise OSError if it cannot start."""
        ...

    def watch(self, handle: Handle) -> Outcome | None:
        """None while the job runs; its :class:`Outcome` once it has ended.

        Works for jobs this process started and for jobs an earlier server started
        (re-adoption after a restart). Once it returns an Outcome, nothing of the job is left
        running.
        """
        ...

    def stop(self, handle: Handle, force: bool = False) -> None:
        """Ask the job to stop (SIGTERM to the whole group), or kill it (``force``)."""
        ...

    def find(self, job_id: str) -> Handle | None:
        """The handle of a running job started under ``job_id`` (by this or an earlier
        server), or None. Used at start-up for a row whose handle was never recorded."""
        ...

    async def close(self) -> None:
        """Release what the executor holds when the server stops; jobs keep running."""
        ...
