"""Every knob of the server in one object, filled from CLI flags (which also read the env)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from datasety.core.errors import DatasetyError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/datasety``, or ``~/.local/share/datasety``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "datasety"


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class Settings:
    """Server configuration. Defaults are the safe ones: loopback, no CORS, no token needed."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = field(default_factory=default_data_dir)
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    # When non-empty, only folders under one of these can be registered as datasets.
    roots: tuple[Path, ...] = ()
    max_upload_mb: int = 1024
    # Host header names accepted while bound to loopback; empty means LOOPBACK_NAMES.
    allowed_hosts: tuple[str, ...] = ()
    # Let jobs fetch http(s) URLs given as arguments (shuffle --group); never with roots.
    allow_job_urls: bool = False
    # Job runner knobs (issue 4 reads them).
    max_jobs: int = 1
    kill_grace: float = 10.0
    keep_jobs: int = 1000
    executor: str = "local"
    # The Ray dashboard's URL (its job server), used with executor "ray".
    ray_address: str = "http://127.0.0.1:8265"
    # Sent to a Ray cluster with token authentication on (its RAY_AUTH_TOKEN).
    ray_token: str | None = None
    # Seconds a client gets for a request's head, and the longest pause inside a body.
    read_timeout: float = 30.0

    # GPUs the local executor hands to jobs, one job per GPU; None finds them (jobs/gpus.py).
    gpus: tuple[str, ...] | None = None

    def job_gpus(self) -> tuple[str, ...]:
        """The GPUs for job slots: ``gpus``, or those this machine has."""
        if self.gpus is not None:
            return self.gpus
        from datasety.server.jobs.gpus import detect_gpus

        return detect_gpus()

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    def host_names(self) -> frozenset[str] | None:
        """Host header names to accept, or None when any is fine (non-loopback bind + token)."""
        # The bind address is always allowed: the server's own printed URL must work
        # (``--host 127.0.0.2`` is loopback but none of the usual names).
        own = (*LOOPBACK_NAMES, self.host.strip("[]").lower())
        if self.allowed_hosts:
            return frozenset((*own, *(h.lower() for h in self.allowed_hosts)))
        if is_loopback(self.host):
            return frozenset(own)
        return None

    def check(self) -> None:
        """Refuse configurations that are unsafe to start with."""
        if not is_loopback(self.host) and not self.token:
            raise DatasetyError(
                f"refusing to listen on {self.host} without a token: anyone who can reach it "
                "could read your files and run commands; set --token (or DATASETY_TOKEN)"
            )
        if self.token is not None and not self.token.strip():
            raise DatasetyError("--token must not be empty")
        if self.allow_job_urls and self.roots:
            raise DatasetyError(
                "--allow-job-urls cannot be used with --root: a server with roots fetches no URL"
            )
        if self.max_upload_mb < 1:
            raise DatasetyError("--max-upload-mb must be at least 1")
