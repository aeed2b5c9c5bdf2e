"""``/v1/jobs``: submit, list, show, cancel, and the log (plain or Server-Sent Events).

Handlers only translate HTTP to :class:`~datasety.server.jobs.runner.JobRunner` calls; the
runner starts with the app (see :func:`lifespan`) and is ``app.state.runner``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from datasety.commands.invocation import build_argv
from datasety.core.confinement import Confinement
from datasety.core.errors import DatasetyError
from datasety.server.bodies import SMALL_JSON_LIMIT, read_json_object
from datasety.server.errors import ApiError, error_responses
from datasety.server.jobs import logs
from datasety.server.jobs.records import RUNNING
from datasety.server.jobs.runner import JobRunner, StartError, build_runner

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MISSING_COMMAND = "Missing 'command' in payload"

# -- the shapes of requests and answers, for /openapi.json (the handlers build plain dicts) --

ArgValue = str | int | float | bool | list[str | int | float | bool] | None


class JobSubmit(BaseModel):
    """``POST /v1/jobs``: a command of ``GET /v1/commands`` and its parameters by name."""

    command: str = Field(description="A command name from GET /v1/commands, e.g. resize")
    args: dict[str, ArgValue] | None = Field(
        None,
        description="Parameter values by name (dashes or underscores), each a string, number, "
        "boolean (a flag), list (a repeatable or multi-value parameter) or null (left out)",
        examples=[{"input": "/path/to/raw", "output": "/path/to/resized", "resolution": "512x512"}],
    )


class JobAccepted(BaseModel):
    id: str
    status: Literal["started", "queued"] = Field(
        description="started: running now; queued: waiting for a free slot"
    )


class JobProgress(BaseModel):
    done: int = Field(description="Files finished (processed, skipped or failed)")
    total: int | None = Field(None, description="Files in the run, when known")
    item: str | None = Field(None, description="The file finished last")


class JobResume(BaseModel):
    param: str = Field(description="The parameter that continues the run, e.g. resume")
    value: str = Field(description="Its value: the last complete checkpoint")
    step: int = Field(description="The step that checkpoint holds")


class JobOut(BaseModel):
    """A job as the spec shows it (``id`` ... ``ended_at``) plus additive keys."""

    model_config = ConfigDict(extra="forbid")

    id: str
    command: str
    argv: list[str] = Field(description="The command line the job runs")
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    output: list[str] = Field(
        description="The last lines of output: up to 1,000 in GET /v1/jobs/<id>; in GET "
        "/v1/jobs the last 10, a line over 1,000 characters only its end; /logs has them all"
    )
    exit_code: int | None
    started_at: float | None
    ended_at: float | None
    progress: JobProgress | None = Field(description="Files done of total, while known")
    queue_position: int | None = Field(
        description="1 for the next job to start; null unless queued"
    )
    queue_reason: str | None = Field(description="What a queued job waits for")
    error: str | None = Field(description="Why the job failed, in one line")
    created_at: float
    resume: JobResume | None = Field(
        description="A failed or cancelled job its command can continue (train: from its last "
        "complete checkpoint): the same args with param = value; null otherwise"
    )


class JobList(BaseModel):
    jobs: list[JobOut] = Field(description="Every job, newest first")


class Cancelled(BaseModel):
    status: Literal["cancelled"]


SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": JobSubmit.model_json_schema()}},
    }
}


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


@router.post(
    "",
    status_code=202,
    summary="Start a new job",
    responses={202: {"model": JobAccepted}, **error_responses(400, 413, 500)},
    openapi_extra=SUBMIT_BODY,
)
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


@router.get("", summary="List all jobs", responses={200: {"model": JobList}})
async def list_jobs(request: Request) -> JSONResponse:
    """Every job, newest first. To stay small, ``output`` holds only each job's last 10 lines,
    a line over 1,000 characters only its end; ``GET /v1/jobs/<id>`` has the last 1,000 lines
    and ``/logs`` the whole log."""
    return JSONResponse({"jobs": _runner(request).list()})


@router.get(
    "/{job_id}",
    summary="Get job status & output",
    responses={200: {"model": JobOut}, **error_responses(404)},
)
async def get_job(request: Request, job_id: str) -> JSONResponse:
    """One job: the spec's keys plus ``progress``, ``queue_position``, ``error``, ``created_at``."""
    return JSONResponse(_runner(request).get(job_id))


@router.delete(
    "/{job_id}",
    summary="Cancel a job",
    responses={200: {"model": Cancelled}, **error_responses(400, 404)},
)
async def cancel_job(request: Request, job_id: str) -> JSONResponse:
    """Cancel a queued job (it never starts) or stop a running one: SIGTERM to its process
    group, SIGKILL after ``--kill-grace`` seconds."""
    _runner(request).cancel(job_id)
    return JSONResponse({"status": "cancelled"})


class Reverted(BaseModel):
    status: Literal["reverted"]
    restored: int = Field(description="Caption files (.txt, metadata.csv) written back")
    removed: int = Field(description="Files the job created, removed")
    not_restored: list[str] = Field(
        description="Other files the job overwrote (not snapshotted: left as they are)"
    )


@router.post(
    "/{job_id}/revert",
    summary="Undo a job: captions it overwrote written back, files it created removed",
    responses={200: {"model": Reverted}, **error_responses(404, 409)},
)
async def revert_job(request: Request, job_id: str) -> JSONResponse:
    """409 while the job runs, without a snapshot, after a revert, or when a file it touched
    changed since it ended (nothing is done then)."""
    runner = _runner(request)
    return JSONResponse(await run_in_threadpool(runner.revert, job_id))


@router.get(
    "/{job_id}/logs",
    summary="The job's log",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The log as text, or with follow=true a Server-Sent Events stream",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        },
        **error_responses(400, 404),
    },
)
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
