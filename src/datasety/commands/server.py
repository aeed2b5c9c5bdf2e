"""`datasety server`: the REST API (spec/server-api.txt) on uvicorn.

FastAPI and uvicorn are imported inside the command, so every other command starts fast.
"""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from datasety.core.errors import DatasetyError

if TYPE_CHECKING:
    from datasety.server.settings import Settings

PORT_ATTEMPTS = 100
# Windows reports a busy port with its own error number.
_ADDR_IN_USE = {errno.EADDRINUSE, 10048}


def bind_socket(host: str, port: int, attempts: int = PORT_ATTEMPTS) -> socket.socket:
    """A listening socket on ``host``, at ``port`` or the next free port after it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise DatasetyError(f"cannot resolve --host {host!r}: {exc.strerror}") from exc
    family, _, proto, _, address = infos[0]
    last = min(port + attempts, 65536) if port else 1
    for candidate in range(port, last) if port else [0]:
        # proto=IPPROTO_TCP (not 0) also lets asyncio turn Nagle off on accepted sockets; the
        # server's protocol does that in any case (datasety.server.connections).
        sock = socket.socket(family, socket.SOCK_STREAM, proto)
        if sys.platform == "win32":
            # On Windows SO_REUSEADDR would let us steal a port in use; this refuses that.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
        else:
            # Lets a restarted server reuse its port while old connections sit in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address[0], candidate, *address[2:]))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            if exc.errno in _ADDR_IN_USE:
                continue
            raise DatasetyError(f"cannot listen on {host}:{candidate}: {exc.strerror}") from exc
        return sock
    raise DatasetyError(f"no free port on {host} from {port} to {last - 1}")


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


@click.command("server")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="DATASETY_HOST",
    show_envvar=True,
    help="Address to listen on; anything but loopback requires --token",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    envvar="DATASETY_PORT",
    show_envvar=True,
    help="Port for the API server; if busy, the next free port is used",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="DATASETY_DATA_DIR",
    show_envvar=True,
    help="Where the server keeps its database, thumbnails and job logs "
    "[default: $XDG_DATA_HOME/datasety or ~/.local/share/datasety]",
)
@click.option(
    "--token",
    default=None,
    envvar="DATASETY_TOKEN",
    show_envvar=True,
    help="Require 'Authorization: Bearer TOKEN' on every /v1 request "
    "(prefer the environment variable: flags show in the process list)",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    envvar="DATASETY_CORS_ORIGINS",
    show_envvar=True,
    help="Allow this browser origin (e.g. http://localhost:5173) cross-origin; repeatable; "
    "none by default",
)
@click.option(
    "--root",
    "roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    envvar="DATASETY_ROOTS",
    show_envvar=True,
    help="Only folders under this one can be registered as datasets; repeatable",
)
@click.option(
    "--max-upload-mb",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    envvar="DATASETY_MAX_UPLOAD_MB",
    show_envvar=True,
    help="Largest request body accepted, in MiB (larger ones get 413)",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    envvar="DATASETY_ALLOWED_HOSTS",
    show_envvar=True,
    help="Host header name to accept besides localhost/127.0.0.1/::1 while bound to "
    "loopback (e.g. behind a reverse proxy); repeatable",
)
@click.option(
    "--allow-job-urls",
    is_flag=True,
    default=False,
    envvar="DATASETY_ALLOW_JOB_URLS",
    show_envvar=True,
    help="Let jobs fetch http(s) URLs given as arguments (shuffle --group); off by default "
    "(a client could make the server fetch any address) and refused with --root",
)
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    envvar="DATASETY_MAX_JOBS",
    show_envvar=True,
    help="How many jobs run at once; the rest wait in the queue",
)
@click.option(
    "--gpus",
    default=None,
    envvar="DATASETY_GPUS",
    show_envvar=True,
    help="GPUs for jobs, e.g. 0,1: a job that runs a model on a GPU gets one to itself "
    "(CUDA_VISIBLE_DEVICES) while other jobs share --max-jobs; 'none' turns GPU slots off "
    "[default: the GPUs this machine has]",
)
@click.option(
    "--kill-grace",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    envvar="DATASETY_KILL_GRACE",
    show_envvar=True,
    help="Seconds between SIGTERM and SIGKILL when a job is cancelled",
)
@click.option(
    "--keep-jobs",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    envvar="DATASETY_KEEP_JOBS",
    show_envvar=True,
    help="How many finished jobs (and their logs) to keep",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    envvar="DATASETY_EXECUTOR",
    show_envvar=True,
    help="Where jobs run: child processes here, or a Ray cluster (needs datasety[ray])",
)
@click.option(
    "--ray-address",
    default="http://127.0.0.1:8265",
    show_default=True,
    envvar="DATASETY_RAY_ADDRESS",
    show_envvar=True,
    help="With --executor ray: the Ray dashboard's URL (its job server); keep that port "
    "private, this server is the only door",
)
@click.option(
    "--ray-token",
    default=None,
    envvar="DATASETY_RAY_TOKEN",
    show_envvar=True,
    help="With --executor ray: the token of a cluster with Ray's token authentication on "
    "(prefer the variable: flags show in the process list)",
)
@click.option(
    "--read-timeout",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    envvar="DATASETY_READ_TIMEOUT",
    show_envvar=True,
    help="Seconds a client gets to send a request's headers; a body must not pause this long "
    "(nor average under 1 KiB/s after it); slower connections are closed",
)
def command(
    host: str,
    port: int,
    data_dir: Path | None,
    token: str | None,
    cors_origins: tuple[str, ...],
    roots: tuple[Path, ...],
    max_upload_mb: int,
    allowed_hosts: tuple[str, ...],
    allow_job_urls: bool,
    max_jobs: int,
    gpus: str | None,
    kill_grace: float,
    keep_jobs: int,
    executor: str,
    ray_address: str,
    ray_token: str | None,
    read_timeout: float,
) -> None:
    """Start the datasety REST API server for remote dataset and job management.

    Listens on 127.0.0.1 by default. Binding any other address needs a token. Datasets and
    jobs persist in the data dir across restarts. API docs are served at /docs.
    """
    from datasety.server.jobs.gpus import parse_gpus
    from datasety.server.settings import Settings, default_data_dir

    settings = Settings(
        host=host,
        port=port,
        data_dir=(data_dir or default_data_dir()).expanduser(),
        token=token,
        cors_origins=cors_origins,
        roots=tuple(r.resolve() for r in roots),
        max_upload_mb=max_upload_mb,
        allowed_hosts=allowed_hosts,
        allow_job_urls=allow_job_urls,
        max_jobs=max_jobs,
        gpus=parse_gpus(gpus) if gpus is not None else None,
        kill_grace=kill_grace,
        keep_jobs=keep_jobs,
        executor=executor,
        ray_address=ray_address,
        ray_token=ray_token or None,
        read_timeout=read_timeout,
    )
    settings.check()
    if settings.executor == "ray":
        # Refuse to start rather than queue jobs for a cluster that is not there.
        from datasety.server.jobs.ray import check_cluster

        check_cluster(settings.ray_address, settings.ray_token)
    _serve(settings)


def _serve(settings: Settings) -> None:
    import uvicorn

    from datasety.server.app import create_app
    from datasety.server.connections import protocol_with

    sock = bind_socket(settings.host, settings.port)
    actual = sock.getsockname()[1]
    if settings.port and actual != settings.port:
        click.echo(f"Port {settings.port} is in use; using {actual} instead.")
    base = url_for(settings.host, actual)
    click.echo(f"datasety server running at {base}/ (API {base}/v1/, docs {base}/docs)")
    click.echo(f"Data dir: {settings.data_dir}")
    sys.stdout.flush()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        http=protocol_with(settings.read_timeout),
        log_level="warning",
        server_header=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    exit_handler = server.handle_exit

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        # Followed job logs (SSE) end only with their job: end them now, or uvicorn's
        # graceful shutdown would wait for them forever.
        runner = getattr(app.state, "runner", None)
        if runner is not None:
            runner.begin_shutdown()
        exit_handler(sig, frame)

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, SystemExit):
        # uvicorn re-raises the signal that stopped it once shutdown is done; a stop the
        # user asked for (Ctrl+C, SIGTERM) is a clean exit, not an error.
        if not server.should_exit:
            raise
    finally:
        sock.close()
    click.echo("Stopped.")
