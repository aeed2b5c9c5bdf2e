"""The exit-status wrapper on its own: statuses recorded atomically, leftovers ended, and run
by hand it never touches the process group of whoever started it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from datasety.server.jobs import procs
from datasety.server.jobs.wrapper import read_exit_file

WRAPPER = [sys.executable, "-m", "datasety.server.jobs.wrapper"]


def wrap(exit_file: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WRAPPER, str(exit_file), "--", *argv], capture_output=True, text=True, timeout=60
    )


def test_records_the_exit_status(tmp_path: Path) -> None:
    exit_file = tmp_path / "job.exit"
    result = wrap(exit_file, sys.executable, "-c", "print('hi'); raise SystemExit(7)")
    assert result.returncode == 7 and result.stdout == "hi\n"
    assert read_exit_file(str(exit_file)) == 7
    assert exit_file.read_text() == "7\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.exit"]  # no temp file left


def test_a_signal_is_recorded_as_minus_its_number(tmp_path: Path) -> None:
    exit_file = tmp_path / "job.exit"
    result = wrap(exit_file, sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 9)")
    assert read_exit_file(str(exit_file)) == -9
    assert result.returncode == 128 + 9


def test_a_missing_program_is_127(tmp_path: Path) -> None:
    exit_file = tmp_path / "job.exit"
    result = wrap(exit_file, str(tmp_path / "no-such-program"))
    assert read_exit_file(str(exit_file)) == 127
    assert result.stderr.startswith("Error: cannot start ")


def test_leftover_processes_are_ended_and_the_caller_is_untouched(tmp_path: Path) -> None:
    exit_file = tmp_path / "job.exit"
    pid_file = tmp_path / "orphan.pid"
    # The command starts a process that outlives it (and ignores SIGTERM), then exits.
    script = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, time;"
        " signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
    )
    started = time.monotonic()
    result = wrap(exit_file, sys.executable, "-c", script)
    assert result.returncode == 0 and read_exit_file(str(exit_file)) == 0
    assert time.monotonic() - started < 60
    orphan = int(pid_file.read_text())
    assert not procs.is_running(orphan)
    # Run by hand, the wrapper led a group of its own: this test process is still here, and
    # so is its group.
    assert procs.process_group(os.getpid()) == os.getpgid(0)
