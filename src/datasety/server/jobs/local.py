"""Local executor: each job is a process group on this machine, started through ``wrapper``.

``start`` launches ``python -m datasety.server.jobs.wrapper <id>.exit -- argv...`` with
``start_new_session=True``: the wrapper is the leader of its own session and process group
(pgid = its pid), and the command and every worker process it forks stay in that group.
stdout and stderr of the whole group are appended to ``<id>.log``; ``DATASETY_PROGRESS=jsonl``
asks the command for machine-readable progress lines and ``PYTHONUNBUFFERED=1`` makes every
line reach the log as it is printed.

``watch`` polls: the wrapper's exit for our own children (reaped here, so no zombies), its
``/proc`` entry for jobs adopted from an earlier server. When the wrapper is gone, any
leftover process of the group is killed and the exit status is read from the exit file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from datasety.core.progress import PROGRESS_ENV
from datasety.server.jobs import procs
from datasety.server.jobs.executor import Handle, Outcome
from datasety.server.jobs.logs import exit_path, log_path
from datasety.server.jobs.wrapper import read_exit_file

WRAPPER_MODULE = "datasety.server.jobs.wrapper"


class LocalExecutor:
    """Runs jobs as local subprocess groups; files live in ``jobs_dir``."""

    def __init__(self, jobs_dir: Path, extra_env: Mapping[str, str] | None = None) -> None:
        self.jobs_dir = jobs_dir
        # Set in every job's environment (the server's roots, see datasety.core.confinement).
        self.extra_env = dict(extra_env or {})
        jobs_dir.mkdir(parents=True, exist_ok=True)
        # Wrapper pids of the jobs this process started: watch() reaps them when they exit.
        self._children: dict[str, int] = {}

    def start(self, job_id: str, argv: list[str], env: Mapping[str, str] | None = None) -> Handle:
        exit_file = exit_path(self.jobs_dir, job_id)
        exit_file.unlink(missing_ok=True)
        environ = {**os.environ, **self.extra_env, **(env or {})}
        environ.update(PYTHONUNBUFFERED="1", DATASETY_JOB_ID=job_id)
        environ[PROGRESS_ENV] = "jsonl"
        log_fd = os.open(log_path(self.jobs_dir, job_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            # posix_spawn, not Popen: no Popen object to outlive the server's interest in it,
            # and the wrapper's pid is all a later server needs.
            pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-m", WRAPPER_MODULE, str(exit_file), "--", *argv],
                environ,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log_fd, 1),
                    (os.POSIX_SPAWN_DUP2, log_fd, 2),
                ],
                setsid=True,
                # Python ignores SIGPIPE; the job should get the default action, as with Popen.
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            )
        finally:
            os.close(log_fd)
        self._children[job_id] = pid
        return Handle(job_id, pid, pid)

    def watch(self, handle: Handle) -> Outcome | None:
        pid = self._children.get(handle.job_id)
        if pid is not None:
            if not _exited(pid):
                return None
            # Kill leftovers while the unreaped wrapper still reserves the group id.
            procs.signal_group(_pgid(handle), signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            wrapper_status: int | None = os.waitstatus_to_exitcode(status)
            del self._children[handle.job_id]
        else:
            if handle.pid is not None and self._is_wrapper(handle.pid, handle.job_id):
                return None
            if procs.group_members(_pgid(handle)):
                procs.signal_group(_pgid(handle), signal.SIGKILL)
            wrapper_status = None
        code = read_exit_file(str(exit_path(self.jobs_dir, handle.job_id)))
        if code is None and wrapper_status is not None and wrapper_status < 0:
            # The wrapper itself was killed (SIGKILL after the grace period): that is the status.
            code = wrapper_status
        return Outcome(code)

    def stop(self, handle: Handle, force: bool = False) -> None:
        members = procs.group_members(_pgid(handle))
        if handle.job_id not in self._children and not members:
            return
        if not force:
            procs.signal_group(_pgid(handle), signal.SIGTERM)
            return
        # Kill the command and its workers but not the wrapper, so that it still records the
        # status and reaps them; once only the wrapper is left, a second force ends it too.
        others = [pid for pid in members if pid != handle.pid]
        if not others:
            procs.signal_group(_pgid(handle), signal.SIGKILL)
        for pid in others:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def find(self, job_id: str) -> Handle | None:
        for pid in procs.all_pids():
            if self._is_wrapper(pid, job_id):
                return Handle(job_id, pid, procs.process_group(pid) or pid)
        return None

    async def close(self) -> None:
        """Nothing to release: jobs keep running and the next server re-adopts them."""

    def _is_wrapper(self, pid: int, job_id: str) -> bool:
        """True if ``pid`` is the live wrapper of ``job_id`` (not a reused pid)."""
        if not procs.is_running(pid):
            return False
        argv = procs.cmdline(pid)
        return WRAPPER_MODULE in argv and str(exit_path(self.jobs_dir, job_id)) in argv


def _exited(pid: int) -> bool:
    """True once our child ``pid`` has exited; it stays unreaped (a zombie) until wait()."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


def _pgid(handle: Handle) -> int:
    """The job's process group (the wrapper's pid, which leads it): a local handle has one."""
    if handle.pgid is None:
        raise ValueError(f"job {handle.job_id} has no process group")
    return handle.pgid
