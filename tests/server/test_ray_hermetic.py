"""The suite does not depend on the machine's home: with a decoy ``~/.ray/auth_token`` in the
home pytest starts from (Ray turns token authentication on when it finds one), a real Ray test
still passes, because tests/conftest.py gives the run a home of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RAY_TEST = "tests/server/test_ray_executor.py::test_a_resize_job_runs_on_the_cluster"


def test_a_decoy_ray_token_in_the_home_does_not_break_the_ray_tests(tmp_path: Path) -> None:
    home = tmp_path / "machine-home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("decoy" * 13)
    env = {**os.environ, "HOME": str(home)}
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", RAY_TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
    # The decoy is still there, untouched: nothing wrote to the machine's home either.
    assert (home / ".ray" / "auth_token").read_text() == "decoy" * 13
    assert sorted(p.name for p in home.rglob("*")) == [".ray", "auth_token"]
