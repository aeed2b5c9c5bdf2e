"""The job runner: a persistent FIFO queue, concurrency slots, lifecycle, progress, retention.

Lifecycle of a row::

    queued --(a slot frees)--> running --(exit 0)--> done
       |                          |-----(exit != 0, or lost)--> failed   (error: one line)
       +--(DELETE)--> cancelled   +-----(DELETE)--> cancelled            (stays cancelled)

* Slots: at most ``max_jobs`` jobs hold a process at once. A cancelled job keeps its slot
  until its process group is gone, so a GPU is never shared with a job still shutting down.
* Start: the row becomes ``running`` before the process exists and gets its pid/pgid right
  after, so a crash in between leaves a row the next server can still match to its process
  (:meth:`Executor.find`), never a process nobody tracks.
* Cancel: SIGTERM to the whole process group now, SIGKILL once ``kill_grace`` seconds pass.
  The row says ``cancelled`` at once; ``ended_at`` and ``exit_code`` follow when it is gone.
* Start-up (:meth:`JobRunner.start`) reconciles rows that an earlier server left with a
  process: a job still running is re-adopted (watched, cancellable, its log followed);
  one whose process is gone gets the status its wrapper recorded, or ``failed`` with
  ``interrupted: server stopped``. Queued jobs simply start again in order.
* Shutdown (:meth:`JobRunner.close`) leaves running jobs running: hour-long jobs survive a
  server restart or upgrade, and the next start re-adopts them. Cancel them first to stop them.
* Retention: after each job ends, ended jobs beyond the newest ``keep_jobs`` lose their row
  and their files, oldest first.

Everything runs on the server's event loop: public methods are synchronous and quick, and a
single background task polls running jobs (their exit, their log for progress).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from datasety.commands import resumable
from datasety.commands.invocation import argv_resume_point, argv_wants_accelerator, recheck_argv
from datasety.core.confinement import Confinement, job_env
from datasety.core.errors import ConflictError, DatasetyError, NotFoundError
from datasety.server.jobs import logs, manifest
from datasety.server.jobs.executor import Executor, Handle, Outcome
from datasety.server.jobs.local import LocalExecutor
from datasety.server.jobs.records import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    JobRecords,
    JobRow,
)
from datasety.server.settings import Settings
from datasety.server.store import Store

log = logging.getLogger("datasety.server.jobs")

JOB_NOT_FOUND = "Job not found"
JOB_NOT_RUNNING = "Job is not running"
INTERRUPTED = "interrupted: server stopped"
VANISHED = "the job's process ended without recording an exit status"


class StartError(Exception):
    """The executor could not start a job (a server-side failure, not the caller's)."""


@dataclass
class _Active:
    """A job holding a slot: its process, its log tail and its latest progress."""

    handle: Handle
    tail: logs.LogTail
    progress: dict[str, Any] | None = None
    kill_at: float | None = None  # when a cancel escalates to SIGKILL
    gpu: str | None = None  # the GPU it holds (None: a CPU slot)


class JobRunner:
    """Owns the queue and the slots; an :class:`Executor` runs the processes."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        jobs_dir: Path,
        max_jobs: int = 1,
        kill_grace: float = 10.0,
        keep_jobs: int = 1000,
        poll_interval: float = 0.05,
        confinement: Confinement | None = None,
        gpus: tuple[str, ...] = (),
    ) -> None:
        self.records = JobRecords(store)
        # GPU slots: one job at a time per GPU, beside the max_jobs CPU slots. Without GPUs,
        # a job that would use one takes a CPU slot and its --device auto picks the CPU.
        self.gpus = tuple(gpus)
        # Checked again when a job starts: its paths may have changed while it was queued.
        self.confinement = confinement
        # The job submit() is starting, and why it was refused at start if it was.
        self._submitting: str | None = None
        self._refused: str | None = None
        self.executor = executor
        self.jobs_dir = jobs_dir
        self.max_jobs = max(1, max_jobs)
        self.kill_grace = max(0.0, kill_grace)
        self.keep_jobs = max(0, keep_jobs)
        self.poll_interval = poll_interval
        self.closing = False
        self._active: dict[str, _Active] = {}
        self._task: asyncio.Task[None] | None = None
        jobs_dir.mkdir(parents=True, exist_ok=True)

    # -- start-up and shutdown -----------------------------------------------------------------

    async def start(self) -> None:
        """Reconcile what an earlier server left, start queued jobs, begin watching."""
        self.reconcile()
        self.prune()
        self._fill_slots()
        self._task = asyncio.create_task(self._watch_loop(), name="datasety-jobs")

    def begin_shutdown(self) -> None:
        """Tell log streams to end now (called as soon as the server is asked to stop)."""
        self.closing = True

    async def close(self) -> None:
        """Stop watching. Running jobs keep running; the next start re-adopts them."""
        self.closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.executor.close()

    def reconcile(self) -> None:
        """Match every row that says it has a process with the process, or close the row."""
        for row in self.records.with_process():
            if row.id in self._active:
                continue
            handle = (
                Handle(row.id, row.pid, row.pgid)
                if row.pid is not None and row.pgid is not None
                else self.executor.find(row.id)
            )
            outcome = self.executor.watch(handle) if handle is not None else Outcome(None)
            if outcome is not None:
                self._finish(row, outcome, lost_reason=INTERRUPTED, stopped=_stopped_note(row))
                continue
            assert handle is not None
            if row.pid is None and handle.pid is not None and handle.pgid is not None:
                self.records.set_process(row.id, handle.pid, handle.pgid)
            log.info("re-adopted job %s (pid %s)", row.id, handle.pid)
            tail = logs.LogTail(logs.log_path(self.jobs_dir, row.id))
            active = _Active(handle, tail, gpu=row.gpu)
            active.progress = logs.last_progress(active.tail.read_all()) or row.progress
            self._active[row.id] = active
            if row.status == CANCELLED:
                # The cancel was asked before the restart: ask again, with a fresh grace period.
                self._stop(active)

    # -- the API's operations ------------------------------------------------------------------

    def submit(self, command: str, argv: list[str]) -> JobRow:
        """Queue a job (``argv`` already validated) and start it if a slot is free.

        Raises :class:`StartError` if it should have started and could not (the row is then
        ``failed`` with the reason).
        """
        row = self.records.insert(str(uuid.uuid4()), command, argv)
        self._submitting, self._refused = row.id, None
        try:
            self._fill_slots()
        finally:
            self._submitting, refused = None, self._refused
        if refused is not None:
            raise DatasetyError(refused)
        current = self.records.get(row.id)
        assert current is not None
        if current.status == FAILED and current.pid is None:
            raise StartError(current.error or "unknown error")
        return current

    def cancel(self, job_id: str) -> None:
        """Cancel a queued job (it never starts) or stop a running one."""
        row = self.records.get(job_id)
        if row is None:
            raise NotFoundError(JOB_NOT_FOUND)
        if row.status == QUEUED and self.records.cancel_queued(job_id):
            return
        if row.status == RUNNING and self.records.cancel_running(job_id):
            active = self._active.get(job_id)
            if active is not None:
                self._stop(active)
            return
        raise DatasetyError(JOB_NOT_RUNNING)

    def get(self, job_id: str) -> dict[str, Any]:
        """The job as the API shows it, or NotFoundError."""
        row = self.records.get(job_id)
        if row is None:
            raise NotFoundError(JOB_NOT_FOUND)
        positions = self._queue_positions() if row.status == QUEUED else {}
        return self._to_json(row, positions, logs.tail_output(self._log(row.id)))

    def revert(self, job_id: str) -> dict[str, Any]:
        """Undo what an ended job did to captions and remove the files it created (see
        :mod:`datasety.server.jobs.manifest`); 404 unknown, 409 while it has not ended."""
        row = self.records.get(job_id)
        if row is None:
            raise NotFoundError(JOB_NOT_FOUND)
        if row.ended_at is None:
            raise ConflictError("Job has not ended")
        return manifest.revert(self.jobs_dir, job_id)

    def list(self) -> list[dict[str, Any]]:
        """Every job, newest first, each with only the last lines of its output."""
        positions = self._queue_positions()
        return [
            self._to_json(
                row,
                positions,
                logs.tail_output(self._log(row.id), logs.LIST_OUTPUT_LINES, logs.LIST_LINE_CHARS),
            )
            for row in self.records.all(newest_first=True)
        ]

    def final_status(self, job_id: str) -> str | None:
        """The job's status once its log can no longer grow (it ended), else None."""
        row = self.records.get(job_id)
        if row is None:
            return "deleted"
        return row.status if row.ended_at is not None else None

    def log_file(self, job_id: str) -> Path:
        """The job's log file (which may not exist yet); NotFoundError for an unknown job."""
        if self.records.get(job_id) is None:
            raise NotFoundError(JOB_NOT_FOUND)
        return logs.log_path(self.jobs_dir, job_id)

    # -- internals -----------------------------------------------------------------------------

    def _log(self, job_id: str) -> Path:
        return logs.log_path(self.jobs_dir, job_id)

    def _to_json(
        self, row: JobRow, positions: dict[str, int], output: Sequence[str]
    ) -> dict[str, Any]:
        active = self._active.get(row.id)
        progress = active.progress if active is not None else row.progress
        return {
            "id": row.id,
            "command": row.command,
            "argv": row.argv,
            "status": row.status,
            "output": output,
            "exit_code": row.exit_code,
            "started_at": row.started_at,
            "ended_at": row.ended_at,
            "progress": progress,
            "queue_position": positions.get(row.id),
            "queue_reason": self._queue_reason(row) if row.status == QUEUED else None,
            "error": row.error,
            "created_at": row.created_at,
            "resume": _resume_point(row) if row.status in (FAILED, CANCELLED) else None,
        }

    def _queue_positions(self) -> dict[str, int]:
        return {row.id: index for index, row in enumerate(self.records.queued(), start=1)}

    def _wants_gpu(self, row: JobRow) -> bool:
        """True if ``row`` should run on one of the server's GPUs."""
        return bool(self.gpus) and _argv_wants_gpu(tuple(row.argv))

    def _queue_reason(self, row: JobRow) -> str:
        return "waiting for a GPU" if self._wants_gpu(row) else "waiting for a job slot"

    def _fill_slots(self) -> None:
        """Start queued jobs, oldest first, while slots of their kind are free: a job that
        waits for a GPU does not hold back a CPU job queued after it, nor the reverse."""
        cpu_free = self.max_jobs - sum(1 for a in self._active.values() if a.gpu is None)
        held = {active.gpu for active in self._active.values()}
        free_gpus = [gpu for gpu in self.gpus if gpu not in held]
        for row in self.records.queued():
            if cpu_free <= 0 and not free_gpus:
                return
            if self._wants_gpu(row):
                if free_gpus and self._launch(row, free_gpus[0]):
                    free_gpus.pop(0)
            elif cpu_free > 0 and self._launch(row, None):
                cpu_free -= 1

    def _launch(self, row: JobRow, gpu: str | None) -> bool:
        """Start ``row`` (pinned to ``gpu``); False if it did not start (and holds no slot)."""
        if not self.records.mark_starting(row.id, gpu):
            return False
        refused = self._recheck(row)
        if refused is not None:
            log.warning("job %s refused at start: %s", row.id, refused)
            self.records.finish(row.id, FAILED, None, refused, None)
            if row.id == self._submitting:
                self._refused = refused  # submit() answers 400: a client's mistake
            return False
        # A GPU job sees only its GPU; with GPU slots, a CPU job sees none, so that nothing
        # can use a GPU the scheduler did not give it.
        env = {"CUDA_VISIBLE_DEVICES": gpu or ""} if self.gpus else {}
        try:
            # What its folders hold now, so that POST /v1/jobs/<id>/revert can undo it.
            manifest.snapshot(self.jobs_dir, row.id, row.argv)
        except (OSError, ValueError) as exc:
            log.warning("job %s: no snapshot (%s)", row.id, exc)
        try:
            handle = self.executor.start(row.id, row.argv, env)
        except (OSError, ValueError) as exc:
            # ValueError: an argv the OS cannot take (a NUL byte); the row must not stay
            # "running" with no process behind it.
            log.error("job %s failed to start: %s", row.id, exc)
            self.records.finish(row.id, FAILED, None, f"Failed to start job: {exc}", None)
            return False
        if handle.pid is not None and handle.pgid is not None:
            self.records.set_process(row.id, handle.pid, handle.pgid)
        tail = logs.LogTail(logs.log_path(self.jobs_dir, row.id))
        self._active[row.id] = _Active(handle, tail, gpu=gpu)
        return True

    def _recheck(self, row: JobRow) -> str | None:
        """Why the job may not start now (a path argument left the roots), or None."""
        if self.confinement is None or row.argv[1:3] != ["-m", "datasety"]:
            return None
        try:
            recheck_argv(row.argv[3:], self.confinement)
        except DatasetyError as exc:
            return f"Refused at start: {exc.message}"
        return None

    def _stop(self, active: _Active) -> None:
        if self.kill_grace <= 0:
            self.executor.stop(active.handle, force=True)
            active.kill_at = time.monotonic() + 1.0
            return
        self.executor.stop(active.handle)
        active.kill_at = time.monotonic() + self.kill_grace

    async def _watch_loop(self) -> None:
        while True:
            try:
                self._poll()
            except Exception:
                # One bad poll (a full disk, a locked database) must not stop every job's watch.
                log.exception("job watch failed; retrying")
            await asyncio.sleep(self.poll_interval)

    def _poll(self) -> None:
        for job_id, active in list(self._active.items()):
            lines = active.tail.read_lines()
            active.progress = logs.last_progress(lines) or active.progress
            if active.kill_at is not None and time.monotonic() >= active.kill_at:
                self.executor.stop(active.handle, force=True)
                # Repeat until it is gone: an executor may end a job in more than one step.
                active.kill_at = time.monotonic() + max(self.kill_grace, 1.0)
            outcome = self.executor.watch(active.handle)
            if outcome is None:
                continue
            active.progress = logs.last_progress(active.tail.read_rest()) or active.progress
            del self._active[job_id]
            row = self.records.get(job_id)
            if row is not None:
                self._finish(row, outcome, lost_reason=VANISHED, progress=active.progress)
        self._fill_slots()

    def _finish(
        self,
        row: JobRow,
        outcome: Outcome,
        lost_reason: str,
        progress: dict[str, Any] | None = None,
        stopped: str | None = None,
    ) -> None:
        """Record how ``row`` ended. ``stopped``: what to say instead when a server restart
        finds it dead, killed (by a signal, or with its wrapper) while no server watched."""
        code = outcome.exit_code
        if code == 0:
            status, error = DONE, None
        elif outcome.error is not None:
            status, error = FAILED, outcome.error
        elif stopped is not None and (code is None or code < 0):
            status, error = FAILED, stopped
        elif code is None:
            status, error = FAILED, lost_reason
        else:
            status, error = FAILED, self._failure_reason(row.id, code)
        self.records.finish(row.id, status, code, error, progress)
        try:
            manifest.record_end(self.jobs_dir, row.id)
        except (OSError, ValueError) as exc:
            log.warning("job %s: no manifest (%s)", row.id, exc)
        self.prune()

    def _failure_reason(self, job_id: str, code: int) -> str:
        """One line: the command's own ``Error: ...`` line if it printed one, else the code."""
        for line in reversed(logs.tail_output(logs.log_path(self.jobs_dir, job_id), 50)):
            if line.startswith("Error: "):
                return line[len("Error: ") :].strip()
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def prune(self) -> None:
        """Drop ended jobs beyond the newest ``keep_jobs``, oldest first, with their files."""
        doomed = self.records.finished_beyond(self.keep_jobs)
        if not doomed:
            return
        self.records.delete(doomed)
        for job_id in doomed:
            for path in self.jobs_dir.glob(f"{job_id}.*"):
                path.unlink(missing_ok=True)


def _command_args(argv: list[str]) -> list[str]:
    """``[command, args...]`` of a job's ``[python, -m, datasety, command, args...]``."""
    return argv[argv.index("datasety") + 1 :] if "datasety" in argv else []


def _resume_point(row: JobRow) -> dict[str, Any] | None:
    """Where the stopped job continues (its command says: train's last checkpoint)."""
    try:
        return argv_resume_point(_command_args(row.argv))
    except DatasetyError:
        return None


def _stopped_note(row: JobRow) -> str | None:
    """What a job that a server restart found dead says, for a command that can be resumed:
    the last complete checkpoint and the flag that continues from it, or that none was
    written. None for other commands (their error stays ``interrupted: server stopped``)."""
    args = _command_args(row.argv)
    if not args or not resumable(args[0]):
        return None
    what = "training" if args[0] == "train" else f"{args[0]} job"
    point = _resume_point(row)
    if point is None:
        return (
            f"the server stopped while this {what} ran; no checkpoint was written, "
            "so a re-run starts over"
        )
    flag = "--" + str(point["param"]).replace("_", "-")
    return (
        f"the server stopped while this {what} ran; last complete checkpoint: "
        f"{point['value']} (step {point['step']}); re-run with {flag} {point['value']}"
    )


@lru_cache(maxsize=1024)
def _argv_wants_gpu(argv: tuple[str, ...]) -> bool:
    """Whether a job's ``[python, -m, datasety, command, ...]`` uses a GPU (parsed once)."""
    args = list(argv)
    start = args.index("datasety") + 1 if "datasety" in args else len(args)
    return argv_wants_accelerator(args[start:])


def build_runner(settings: Settings, store: Store) -> JobRunner:
    """The runner the server's settings ask for (``data_dir/jobs`` holds the logs)."""
    jobs_dir = settings.data_dir / "jobs"
    executor: Executor
    env = job_env(settings.roots, settings.allow_job_urls)
    if settings.executor == "local":
        executor = LocalExecutor(jobs_dir, env)
    elif settings.executor == "ray":
        # Imported only here: Ray is an optional extra, heavy to import.
        from datasety.server.jobs.ray import RayExecutor

        executor = RayExecutor(
            settings.ray_address,
            jobs_dir,
            kill_grace=settings.kill_grace,
            extra_env=env,
            token=settings.ray_token,
        )
    else:
        raise DatasetyError(f"Unknown executor: {settings.executor} (available: local, ray)")
    return JobRunner(
        store,
        executor,
        jobs_dir,
        max_jobs=settings.max_jobs,
        kill_grace=settings.kill_grace,
        keep_jobs=settings.keep_jobs,
        confinement=Confinement.of(settings.roots, urls=settings.allow_job_urls),
        # On a cluster, Ray places GPU jobs itself (the executor asks for num_gpus).
        gpus=settings.job_gpus() if settings.executor == "local" else (),
    )
