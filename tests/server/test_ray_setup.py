"""The Ray executor without a cluster: what each command asks Ray for, Ray's error lines, and
a server that refuses to start (no cluster at the address, a bad address, no Ray installed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasety.server.jobs.ray import INSTALL_HINT, ray_reason, resources_for, submission_id

from .rayhead import free_port

PYTHON = [sys.executable, "-m", "datasety"]


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["resize", "--input=a", "--output=b"], (1.0, 0.0)),
        (["resize", "--input=a", "--output=b", "--workers=3"], (3.0, 0.0)),
        (["resize", "--input=a", "--output=b", "--workers=0"], (1.0, 0.0)),
        # caption has --device: its default (auto) and cuda ask for a GPU, cpu does not.
        (["caption", "--input=a"], (1.0, 1.0)),
        (["caption", "--input=a", "--device=cuda"], (1.0, 1.0)),
        (["caption", "--input=a", "--device=cpu"], (1.0, 0.0)),
        (["inspect", "--", "a"], (1.0, 0.0)),
        (["no-such-command"], (1.0, 0.0)),
    ],
)
def test_resources_come_from_the_command_parameters(
    args: list[str], wanted: tuple[float, float]
) -> None:
    assert resources_for([*PYTHON, *args]) == wanted


def test_ray_reason_keeps_the_one_line_that_says_why() -> None:
    # The text Ray's client raises when a submission id is taken (a remote traceback).
    text = (
        "Request failed with status code 500: Traceback (most recent call last):\n"
        '  File "job_head.py", line 419, in submit_job\n'
        "RuntimeError: Request failed with status code 400: Traceback (most recent call last):\n"
        '  File "job_manager.py", line 553, in submit_job\n'
        "    raise ValueError(\n"
        "ValueError: Job with submission_id datasety-1 already exists. "
        "Please use a different submission_id.\n.\n."
    )
    assert ray_reason(RuntimeError(text)) == (
        "Job with submission_id datasety-1 already exists. Please use a different submission_id."
    )
    assert ray_reason(
        RuntimeError("Request failed with status code 404: Job x does not exist.")
    ) == ("Request failed with status code 404: Job x does not exist.")
    assert submission_id("abc") == "datasety-abc"


def _serve(
    tmp_path: Path, *flags: str, env: dict[str, str] | None = None, code: str = ""
) -> subprocess.CompletedProcess[str]:
    """``datasety server`` with ``flags`` (after running ``code``); it must refuse to start."""
    script = f"{code}\nfrom datasety.cli import main\nmain()"
    argv = ["server", "--port", "0", "--data-dir", str(tmp_path / "data"), *flags]
    return subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.ray
def test_an_unreachable_cluster_refuses_the_start(tmp_path: Path) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    result = _serve(tmp_path, "--executor", "ray", "--ray-address", address)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: cannot reach the Ray cluster at {address} (")
    assert lines[0].endswith("is --ray-address the dashboard's URL (port 8265)?")


def test_the_ray_address_must_be_the_dashboard_url(tmp_path: Path) -> None:
    result = _serve(tmp_path, "--executor", "ray", "--ray-address", "10.0.0.1:6379")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: --ray-address must be the Ray dashboard's URL, e.g. http://HOST:8265 "
        "(got '10.0.0.1:6379')\n"
    )


def test_without_ray_installed_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    # `import ray` fails as it does without the extra; the environment variables work too.
    env = {"DATASETY_EXECUTOR": "ray", "DATASETY_RAY_ADDRESS": "http://127.0.0.1:9"}
    result = _serve(tmp_path, env=env, code="import sys; sys.modules['ray'] = None")
    assert result.returncode == 1
    assert result.stderr == f"Error: {INSTALL_HINT}\n"
    assert "pip install 'datasety[ray]'" in INSTALL_HINT
