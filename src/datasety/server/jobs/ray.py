"""Ray executor: each job runs as a Ray job on a cluster; the queue, records and logs stay ours.

Ray Jobs has the shape of a job (an entrypoint command, CPU/GPU requests, status, logs, stop)
but is not a queue (a job that waits for resources fails after Ray's start timeout), keeps its
logs on the node that ran it, and has no auth of its own. So the runner keeps owning the queue,
the slots (``--max-jobs`` = jobs in flight on the cluster), the rows and the log files, and this
executor only submits, follows and stops:

* ``start`` submits ``shlex.join(argv)`` with ``JobSubmissionClient.submit_job`` under the
  submission id ``datasety-<job id>`` (so a restarted server finds it again from the row alone),
  ``metadata={"datasety_job_id": ...}``, the CPUs and GPU the command declares
  (:func:`resources_for`) and the same environment the local executor sets (machine-readable
  progress, unbuffered output).
* While the job runs, its Ray log is copied into our ``<id>.log`` as it grows (Ray's log tail
  over a websocket; only bytes not written yet are appended), so ``output``, the text log, SSE
  and ``progress`` work exactly as with local jobs. When Ray reports the job ended, one full
  read of Ray's log catches up whatever the tail had not delivered.
* ``stop`` asks Ray to stop the job (Ray sends SIGTERM to the entrypoint and its children and
  SIGKILL after ``RAY_JOB_STOP_WAIT_TIME_S``, which we set to ``--kill-grace``).
* ``find`` re-adopts a job by its submission id after a restart.

The Ray client speaks blocking HTTP, so no call to it ever runs on the server's event loop:
each job is followed by an asyncio task that sends the client's calls to a small thread pool
(at most one call in flight per job, so a hung cluster cannot pile up threads). ``start``,
``watch``, ``stop`` and ``find`` only read and write in-memory state and return at once.

A cluster with Ray's token authentication on (``RAY_AUTH_MODE=token`` on its head) answers only
requests that carry its token: ``--ray-token`` / ``DATASETY_RAY_TOKEN`` is sent as
``Authorization: Bearer <token>`` on every call, the log tail's websocket included. Without
it, Ray's own client settings apply (``RAY_AUTH_MODE=token`` with ``RAY_AUTH_TOKEN``,
``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), as for Ray's own command line.

Failures: an address that cannot be reached at start-up refuses the server's start
(:func:`check_cluster`); a cluster that stays unreachable for ``lost_after`` seconds while a
job is in flight fails the job with that reason; a job Ray refuses or fails before running its
command becomes ``failed`` with Ray's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shlex
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from datasety.commands import places_own_workers
from datasety.commands.invocation import argv_wants_accelerator, parsed_params
from datasety.core.errors import DatasetyError
from datasety.core.progress import PROGRESS_ENV
from datasety.server.jobs.executor import Handle, Outcome
from datasety.server.jobs.logs import log_path

log = logging.getLogger("datasety.server.jobs.ray")

T = TypeVar("T")

INSTALL_HINT = "the Ray executor needs Ray: pip install 'datasety[ray]'"
SUBMISSION_PREFIX = "datasety-"
METADATA_KEY = "datasety_job_id"
# How long a cluster may stay unreachable while jobs are in flight before they fail.
LOST_AFTER = 30.0
STATUS_POLL = 0.25
# A broken log tail is reconnected after this long (the status poll decides the outcome).
TAIL_RETRY = 1.0
# Ray's messages can hold whole tracebacks and logs: a job's `error` keeps one short line.
MAX_REASON = 300
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})


def submission_id(job_id: str) -> str:
    """The Ray submission id of our job ``job_id`` (derived, so a restart can find it)."""
    return SUBMISSION_PREFIX + job_id


def _client_class() -> Any:
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise DatasetyError(INSTALL_HINT) from None
    return JobSubmissionClient


def check_address(address: str) -> None:
    """Refuse anything but the dashboard's http(s) URL (Ray would otherwise go looking for a
    local cluster on its own)."""
    if not address.startswith(("http://", "https://")):
        raise DatasetyError(
            f"--ray-address must be the Ray dashboard's URL, e.g. http://HOST:8265 "
            f"(got {address!r})"
        )


def connect(address: str, token: str | None = None) -> Any:
    """A ``JobSubmissionClient`` for ``address`` (sending ``token``, if any, on every request);
    blocks on one HTTP request (Ray's version check). Raises OSError when the cluster cannot be
    reached, DatasetyError when it refuses our credentials."""
    check_address(address)
    client_class = _client_class()
    from ray.exceptions import RayError

    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return client_class(address, headers=headers)
    except RuntimeError as exc:
        # Ray answered, but not as a job server (an old version, another service on the port).
        raise ConnectionError(ray_reason(exc)) from None
    except RayError as exc:
        # Ray's AuthenticationError: 401 "Authentication required: ...", 403 "... failed: ...".
        text = str(exc)
        if text.startswith("Authentication required"):
            raise DatasetyError(
                f"the Ray cluster at {address} requires a token: give it with --ray-token "
                "or DATASETY_RAY_TOKEN"
            ) from None
        if text.startswith("Authentication failed"):
            raise DatasetyError(
                f"the Ray cluster at {address} refused the token (--ray-token / DATASETY_RAY_TOKEN)"
            ) from None
        raise DatasetyError(f"the Ray cluster at {address}: {_first_line(text)}") from None


def check_cluster(address: str, token: str | None = None) -> None:
    """At server start-up: Ray importable and its job server reachable at ``address`` (and
    accepting ``token``), or a one-line DatasetyError."""
    try:
        connect(address, token)
    except OSError as exc:
        raise DatasetyError(
            f"cannot reach the Ray cluster at {address} ({_first_line(str(exc))}); "
            "is its head running, and is --ray-address the dashboard's URL (port 8265)?"
        ) from None


def ray_reason(exc: BaseException) -> str:
    """One short line from a Ray client error (its text may carry a whole remote traceback)."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip(" .")]
    # A remote traceback ends with "SomeError: what went wrong"; that line is the reason.
    for line in reversed(lines):
        name, sep, rest = line.partition(": ")
        if sep and name.isidentifier() and name.endswith(("Error", "Exception")):
            return _clip(rest.rstrip(". ") + ".")
    return _clip(lines[0] if lines else type(exc).__name__)


def _first_line(text: str) -> str:
    return _clip(text.strip().splitlines()[0] if text.strip() else "no reason given")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def resources_for(argv: list[str]) -> tuple[float, float]:
    """``(cpus, gpus)`` for a job's argv, from what its command declares in the registry.

    A run that uses a GPU (:func:`~datasety.commands.invocation.argv_wants_accelerator`, the rule
    the local runner's GPU slots follow) asks for one. A command with ``--workers N`` asks for N
    CPUs (0, "every core", asks for 1: Ray's CPUs are a scheduling count, the job still uses
    the cores its node has). A command that places its own workers on the cluster (``train
    --workers N``, Ray Train) asks for nothing: its workers ask Ray themselves, and a driver
    that held a CPU or a GPU could keep them from starting. Everything else asks for one CPU.
    """
    try:
        start = argv.index("datasety") + 1
    except ValueError:
        return 1.0, 0.0
    job = argv[start:]
    params = parsed_params(job)
    if job and places_own_workers(job[0], params):
        return 0.0, 0.0  # a Ray Train driver: its workers ask Ray for CPUs or GPUs themselves
    gpus = 1.0 if argv_wants_accelerator(job) else 0.0
    workers = params.get("workers")
    cpus = float(workers) if isinstance(workers, int) and workers > 0 else 1.0
    return cpus, gpus


@dataclass
class _RayJob:
    """What this server knows of one job in flight on the cluster."""

    job_id: str
    log: Path
    # Bytes of Ray's log already in our log file: a tail that starts again skips them.
    written: int = 0
    outcome: Outcome | None = None
    stop_asked: bool = False
    stop_sent: bool = False
    forced: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def submission_id(self) -> str:
        return submission_id(self.job_id)

    def append(self, text: str, seen: int) -> int:
        """Append the part of ``text`` (Ray's log from byte ``seen`` on) not written yet;
        returns the byte offset in Ray's log after ``text``."""
        data = text.encode("utf-8", "replace")
        end = seen + len(data)
        if end > self.written:
            with open(self.log, "ab") as handle:
                handle.write(data[max(0, self.written - seen) :])
            self.written = end
        return end


class RayExecutor:
    """Runs jobs on the Ray cluster whose dashboard (job server) is at ``address``."""

    def __init__(
        self,
        address: str,
        jobs_dir: Path,
        kill_grace: float = 10.0,
        poll_interval: float = STATUS_POLL,
        lost_after: float | None = None,
        extra_env: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        check_address(address)
        _client_class()  # fail now, with the install hint, if the extra is missing
        self.address = address
        self.token = token
        self.jobs_dir = jobs_dir
        self.kill_grace = kill_grace
        # Set in every job's environment (the server's roots, see datasety.core.confinement).
        self.extra_env = dict(extra_env or {})
        self.poll_interval = poll_interval
        self.lost_after = LOST_AFTER if lost_after is None else lost_after
        jobs_dir.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, _RayJob] = {}
        self._client: Any = None
        self._client_lock: asyncio.Lock | None = None
        # Blocking Ray calls run here, never on the event loop; one in flight per job.
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="datasety-ray")

    # -- the Executor interface: in-memory and immediate ------------------------------------

    def start(self, job_id: str, argv: list[str], env: Mapping[str, str] | None = None) -> Handle:
        # ``env`` (a local GPU pin) has no meaning on the cluster: Ray places the job on a GPU
        # from the ``num_gpus`` it asks for and sets CUDA_VISIBLE_DEVICES there itself.
        path = log_path(self.jobs_dir, job_id)
        path.touch()
        job = _RayJob(job_id, path, written=path.stat().st_size)
        self._follow(job, argv)
        return Handle(job_id)

    def watch(self, handle: Handle) -> Outcome | None:
        job = self._jobs.get(handle.job_id)
        if job is None:
            # A handle this server never followed (re-adoption): follow it from now on.
            self.find(handle.job_id)
            return None
        if job.outcome is None:
            return None
        del self._jobs[handle.job_id]
        return job.outcome

    def stop(self, handle: Handle, force: bool = False) -> None:
        job = self._jobs.get(handle.job_id)
        if job is None or job.outcome is not None:
            return
        job.stop_asked = True
        job.forced = job.forced or force
        job.stop_sent = False  # a forced stop asks Ray again
        job.wake.set()

    def find(self, job_id: str) -> Handle | None:
        """Follow ``datasety-<job_id>`` on the cluster again. Whether Ray still knows it is
        learnt by the follower (a job Ray does not know fails with that reason)."""
        if job_id not in self._jobs:
            path = log_path(self.jobs_dir, job_id)
            written = path.stat().st_size if path.exists() else 0
            self._follow(_RayJob(job_id, path, written=written), None)
        return Handle(job_id)

    async def close(self) -> None:
        """Stop following (jobs keep running on the cluster; the next server re-adopts them)."""
        tasks = [job.task for job in self._jobs.values() if job.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._jobs.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- following a job ------------------------------------------------------------------

    def _follow(self, job: _RayJob, argv: list[str] | None) -> None:
        self._jobs[job.job_id] = job
        job.task = asyncio.get_running_loop().create_task(
            self._run_job(job, argv), name=f"datasety-ray-{job.job_id}"
        )

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def _ray(self) -> Any:
        """The client, created on first use in the pool (its constructor makes a request)."""
        if self._client is None:
            if self._client_lock is None:
                self._client_lock = asyncio.Lock()
            async with self._client_lock:
                if self._client is None:
                    self._client = await self._call(connect, self.address, self.token)
        return self._client

    async def _run_job(self, job: _RayJob, argv: list[str] | None) -> None:
        try:
            if argv is not None and not await self._submit(job, argv):
                return
            job.outcome = await self._track(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug or a surprise from Ray must end as a failed job, never as one nobody follows.
            log.exception("following Ray job %s failed", job.submission_id)
            job.outcome = Outcome(None, error=f"Ray executor error: {_first_line(str(exc))}")

    async def _submit(self, job: _RayJob, argv: list[str]) -> bool:
        """Submit the job; False (with ``job.outcome`` set) if it never reached the cluster."""
        cpus, gpus = resources_for(argv)
        env = {
            **self.extra_env,
            PROGRESS_ENV: "jsonl",
            "PYTHONUNBUFFERED": "1",
            "DATASETY_JOB_ID": job.job_id,
            # Ray's own SIGTERM -> SIGKILL delay for a stopped job: our --kill-grace.
            "RAY_JOB_STOP_WAIT_TIME_S": str(math.ceil(self.kill_grace)),
        }
        unreachable_since: float | None = None
        attempts = 0
        while True:
            if job.stop_asked:
                job.outcome = Outcome(None)  # cancelled before it reached the cluster
                return False
            attempts += 1
            try:
                client = await self._ray()
                await self._call(
                    client.submit_job,
                    entrypoint=shlex.join(argv),
                    submission_id=job.submission_id,
                    runtime_env={"env_vars": env},
                    metadata={METADATA_KEY: job.job_id},
                    entrypoint_num_cpus=cpus,
                    entrypoint_num_gpus=gpus,
                )
                return True
            except OSError as exc:
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since >= self.lost_after:
                    job.outcome = Outcome(None, error=self._unreachable(exc))
                    return False
            except RuntimeError as exc:
                if attempts > 1 and "already exists" in str(exc):
                    return True  # an earlier attempt got through before its answer was lost
                job.outcome = Outcome(None, error=f"Ray rejected the job: {ray_reason(exc)}")
                return False
            await self._nap(job)

    async def _track(self, job: _RayJob) -> Outcome:
        """Poll the job's status until it ends; copy its log meanwhile."""
        tail = asyncio.get_running_loop().create_task(self._tail(job))
        try:
            info = await self._wait_for_end(job)
        finally:
            tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tail
        if isinstance(info, Outcome):
            return info
        await self._catch_up(job)
        return _outcome(info, job.stop_asked)

    async def _wait_for_end(self, job: _RayJob) -> Any:
        """Ray's final JobInfo, or an Outcome when the job is lost or never started."""
        unreachable_since: float | None = None
        while True:
            try:
                client = await self._ray()
                if job.stop_asked and not job.stop_sent:
                    await self._call(client.stop_job, job.submission_id)
                    job.stop_sent = True
                info = await self._call(client.get_job_info, job.submission_id)
            except (OSError, RuntimeError) as exc:
                if "status code 404" in str(exc):
                    return Outcome(
                        None,
                        error="the Ray cluster does not know this job (it never reached the "
                        "cluster, or the cluster was restarted)",
                    )
                # Unreachable, or its job server failing: a blip is waited out, a lasting
                # outage fails the job.
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since >= self.lost_after:
                    return Outcome(None, error=self._unreachable(exc))
            else:
                unreachable_since = None
                status = _status(info)
                if status in _TERMINAL:
                    return info
                if job.forced and status == "PENDING":
                    # Ray cannot stop a job that never started (its stop waits for the job to
                    # be scheduled); nothing of it runs, so it has ended for us.
                    return Outcome(None)
            await self._nap(job)

    async def _nap(self, job: _RayJob) -> None:
        job.wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(job.wake.wait(), self.poll_interval)

    async def _tail(self, job: _RayJob) -> None:
        """Copy Ray's log into ours as it grows; reconnects (skipping what we have) if the
        stream breaks. The status poll, not this tail, decides when the job has ended."""
        while True:
            seen = 0
            try:
                client = await self._ray()
                async with contextlib.aclosing(client.tail_job_logs(job.submission_id)) as tail:
                    async for text in tail:
                        seen = job.append(text, seen)
                return  # Ray ends the stream once the job ended and its log was read
            except asyncio.CancelledError:
                raise
            except Exception:
                # The websocket broke or the job is not there yet: the status poll reports the
                # job's fate, this only retries.
                log.debug("log tail of %s broke; retrying", job.submission_id, exc_info=True)
            await asyncio.sleep(TAIL_RETRY)

    async def _catch_up(self, job: _RayJob) -> None:
        """After the end: one full read of Ray's log appends whatever the tail missed."""
        try:
            client = await self._ray()
            text = await self._call(client.get_job_logs, job.submission_id)
        except (OSError, RuntimeError) as exc:
            log.warning("could not read the end of %s's log: %s", job.submission_id, exc)
            return
        job.append(text, 0)

    def _unreachable(self, exc: BaseException) -> str:
        return (
            f"lost the Ray cluster at {self.address}: unreachable for "
            f"{self.lost_after:g} s ({_first_line(str(exc))})"
        )


def _status(info: Any) -> str:
    status = info.status
    return str(getattr(status, "value", status))


def _outcome(info: Any, cancelled: bool) -> Outcome:
    """Our Outcome for Ray's final JobInfo."""
    status = _status(info)
    code = getattr(info, "driver_exit_code", None)
    if status == "SUCCEEDED":
        return Outcome(0 if code is None else code)
    if status == "STOPPED":
        return Outcome(code, error=None if cancelled else "stopped on the Ray cluster")
    if code is not None:
        # The command ran and failed: the runner takes the reason from its log, as for local.
        return Outcome(code)
    return Outcome(None, error=f"Ray: {_first_line(info.message or 'the job failed')}")
