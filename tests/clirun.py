"""Running the command line from tests: as a real process, or in-process through ``main``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasety.cli import main


def run_datasety(
    *args: str,
    cwd: Path | None = None,
    prefix: list[str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``python -m datasety ARGS`` as its own process, as a user or the job runner runs it.

    ``DATASETY_*`` variables of the caller (a job's progress mode, a workflow's stack) are left
    out, so a test sees what a user at a terminal sees. ``prefix`` wraps the command (setpriv).
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("DATASETY_")}
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "datasety", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``datasety ARGS`` in this process: ``(exit code, stdout, stderr)``."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err
