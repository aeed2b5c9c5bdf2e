"""``/v1/jobs``: submit, list, show, cancel, and the log (plain or Server-Sent Events).

Handlers only translate HTTP to :class:`~datasety.server.jobs.runner.JobRunner` calls; the
runner starts with the app (see :func:`lifespan`) and is ``app.state.runner``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from datasety.confinement import Confinement
from datasety.errors import DatasetyError
from datasety.invocation import build_argv
from datasety.server.bodies import SMALL_JSON_LIMIT, read_json_object
from datasety.server.errors import ApiError, error_responses
from datasety.server.jobs import logs
from datasety.server.jobs.records import RUNNING
from datasety.server.jobs.runner import JobRunner, StartError, build_runner

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MISSING_COMMAND = "Missing 'command' in payload"


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the job runner while the app is up (reconciles jobs left by an earlier server)."""
    runner = build_runner(app.state.settings, app.state.store)
    await runner.start()
    app.state.runner = runner
    try:
        yield
    finally:
        await runner.close()


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.runner
    return runner


@router.post("", status_code=202, summary="Start a new job", responses=error_responses(400, 500))
async def create_job(request: Request) -> JSONResponse:
    """Validate ``{command, args}`` against the command registry, then queue the job:
    ``status`` is ``started`` when it started at once, ``queued`` when it waits for a slot."""
    body = await read_json_object(request, limit=SMALL_JSON_LIMIT)
    command = body.get("command")
    if command is None or command == "":
        raise ApiError(400, MISSING_COMMAND)
    # With --root, every path argument must resolve inside a root (absolute: a job's working
    # folder is the executor's business), checked before anything is queued; and no URL is
    # fetched for a client unless the server opted in.
    settings = request.app.state.settings
    confinement = Confinement.of(settings.roots, urls=settings.allow_job_urls)
    argv = build_argv(command, body.get("args"), confinement)
    _refuse_nul_bytes(command, body.get("args") or {}, argv)
    try:
        row = _runner(request).submit(command, [sys.executable, "-m", "datasety", *argv])
    except StartError as exc:
        raise ApiError(500, str(exc)) from None
    status = "started" if row.status == RUNNING else row.status
    return JSONResponse({"id": row.id, "status": status}, status_code=202)


def _refuse_nul_bytes(command: str, args: dict[str, Any], argv: list[str]) -> None:
    """400 for a NUL byte in a value: no process can take it as an argument, so it would
    only fail at start, as a server error."""
    if not any("\x00" in item for item in argv):
        return
    for key, value in args.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(item, str) and "\x00" in item for item in values):
            raise ApiError(400, f"Parameter '{key}' of {command} must not contain a NUL byte")
    raise ApiError(400, f"Arguments of {command} must not contain a NUL byte")


@router.get("", summary="List all jobs")
async def list_jobs(request: Request) -> JSONResponse:
    """Every job, newest first. To stay small, ``output`` holds only each job's last 10 lines,
    a line over 1,000 characters only its end; ``GET /v1/jobs/<id>`` has the last 1,000 lines
    and ``/logs`` the whole log."""
    return JSONResponse({"jobs": _runner(request).list()})


@router.get("/{job_id}", summary="Get job status & output", responses=error_responses(404))
async def get_job(request: Request, job_id: str) -> JSONResponse:
    """One job: the spec's keys plus ``progress``, ``queue_position``, ``error``, ``created_at``."""
    return JSONResponse(_runner(request).get(job_id))


@router.delete("/{job_id}", summary="Cancel a job", responses=error_responses(400, 404))
async def cancel_job(request: Request, job_id: str) -> JSONResponse:
    """Cancel a queued job (it never starts) or stop a running one: SIGTERM to its process
    group, SIGKILL after ``--kill-grace`` seconds."""
    _runner(request).cancel(job_id)
    return JSONResponse({"status": "cancelled"})


@router.get("/{job_id}/logs", summary="The job's log", responses=error_responses(400, 404))
async def job_logs(request: Request, job_id: str, follow: bool = False) -> StreamingResponse:
    """The whole log as text/plain; with ``follow=true`` a Server-Sent Events stream: one
    event per line, ``id`` = the byte offset after the line (send it back as ``Last-Event-ID``
    to resume), and a final ``event: end`` whose data is the job's final status. Progress lines
    are left out of both."""
    runner = _runner(request)
    path = runner.log_file(job_id)
    if not follow:
        return StreamingResponse(logs.iter_text(path), media_type="text/plain; charset=utf-8")
    events = logs.follow(
        path,
        _last_event_id(request),
        final_status=lambda: runner.final_status(job_id),
        closing=lambda: runner.closing,
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


def _last_event_id(request: Request) -> int:
    raw: Any = request.headers.get("last-event-id")
    if raw is None or not raw.strip():
        return 0
    try:
        offset = int(raw.strip())
    except ValueError:
        raise DatasetyError("Invalid Last-Event-ID: expected a byte offset") from None
    if offset < 0:
        raise DatasetyError("Invalid Last-Event-ID: expected a byte offset")
    return offset
