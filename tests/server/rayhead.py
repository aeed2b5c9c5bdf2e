"""A real single-node Ray head on loopback for the Ray executor's tests.

``ray start --head --block`` runs in a session of its own with a marker in its environment;
every Ray process it starts (GCS, raylet, dashboard, workers, the job supervisors and the
jobs' own processes) inherits that environment, so :meth:`RayHead.stop` ends exactly the
processes this head started, never another Ray on the machine (``ray stop`` would end all).

``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is Ray's single-machine mode: the node's address is
127.0.0.1, so every Ray port listens on loopback only.

Token authentication is set explicitly, never left to what the home holds (Ray turns it on by
itself when it finds ``~/.ray/auth_token``): off, or on with the head's own ``token``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from datasety.server.jobs import procs

MARKER = "DATASETY_TEST_RAY_HEAD"
START_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def processes_with_env(entry: str) -> list[int]:
    """Live processes whose environment holds ``entry`` (``NAME=value``)."""
    wanted = entry.encode()
    found = []
    for pid in procs.all_pids():
        try:
            environ = (procs.PROC / str(pid) / "environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if wanted in environ.split(b"\0") and procs.is_running(pid):
            found.append(pid)
    return found


class RayHead:
    """One Ray head on free loopback ports, its files under ``root``."""

    def __init__(
        self, root: Path, token: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.root = root
        self.token = token
        # Set in the head's environment, so in every process Ray starts (jobs, workers).
        self.env = dict(env or {})
        self.marker = f"{MARKER}={uuid.uuid4().hex}"
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.gcs_address = ""  # what a driver's RAY_ADDRESS names

    def start(self) -> RayHead:
        self.root.mkdir(parents=True, exist_ok=True)
        dashboard = free_port()
        self.address = f"http://127.0.0.1:{dashboard}"
        name, value = self.marker.split("=", 1)
        gcs_port = free_port()
        self.gcs_address = f"127.0.0.1:{gcs_port}"
        env = dict(
            os.environ,
            **self.env,
            RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
            RAY_USAGE_STATS_ENABLED="0",
            # Fixed by default: two heads on one machine would fight over them.
            DASHBOARD_METRIC_PORT=str(free_port()),
            AUTOSCALER_METRIC_PORT=str(free_port()),
            RAY_AUTH_MODE="token" if self.token else "disabled",
        )
        env.pop("RAY_AUTH_TOKEN_PATH", None)
        if self.token:
            env["RAY_AUTH_TOKEN"] = self.token
        else:
            env.pop("RAY_AUTH_TOKEN", None)
        env[name] = value
        ray = Path(sys.executable).with_name("ray")
        # A short temp dir: Ray's socket paths must fit in 107 bytes.
        temp_dir = Path("/tmp") / f"dsray-{uuid.uuid4().hex[:8]}"
        self.temp_dir = temp_dir
        log = open(self.root / "ray-start.log", "wb")  # noqa: SIM115 (kept for the process)
        self.process = subprocess.Popen(
            [
                str(ray),
                "start",
                "--head",
                "--block",
                f"--port={gcs_port}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dashboard}",
                f"--dashboard-agent-listen-port={free_port()}",
                f"--ray-client-server-port={free_port()}",
                "--num-cpus=2",
                "--num-gpus=0",
                "--include-dashboard=true",
                "--disable-usage-stats",
                f"--temp-dir={temp_dir}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = (self.root / "ray-start.log").read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"the Ray head did not start:\n{output}")
            time.sleep(0.5)
        return self

    def _ready(self) -> bool:
        """The dashboard answers and its job server lists jobs."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            version = httpx.get(f"{self.address}/api/version", headers=headers, timeout=2)
            jobs = httpx.get(f"{self.address}/api/jobs/", headers=headers, timeout=5)
        except httpx.TransportError:
            return False
        return version.status_code == 200 and jobs.status_code == 200

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self._ready()

    def crash(self) -> None:
        """SIGKILL the head's own processes (its session: GCS, raylet, dashboard, workers), as
        a machine that dies would: nothing gets to record anything. Jobs' processes run in
        sessions of their own; Ray ends them once their supervisor is gone."""
        assert self.process is not None
        session = self.process.pid
        for pid in procs.all_pids():
            try:
                fields = (procs.PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[3]) == session:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """End every process this head started (SIGTERM, then SIGKILL after a few seconds)."""
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            pids = set(processes_with_env(self.marker))
            if self.process.poll() is None:
                pids.add(self.process.pid)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.process.poll()  # reap the `ray start` process itself
                if not processes_with_env(self.marker):
                    break
                time.sleep(0.2)
        self.process.wait(timeout=10)
        self.process = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)
