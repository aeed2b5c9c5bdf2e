"""Run one job's command and record how it ended, for whichever server is watching.

Usage (the local executor builds this line; nobody types it)::

    python -m datasety.server.jobs.wrapper EXIT_FILE -- COMMAND ARGV...

Why a wrapper: a server learns a child's exit status from ``waitpid``, but only for its own
children. After a server crash (or an upgrade restart) the job keeps running, and the next
server must still learn how it ended. So the executor starts this small process as the leader
of a new session and process group; it runs the command as its child in that same group (the
job's log file is its stdout and stderr), waits for it, and writes the exit status to
EXIT_FILE atomically (temporary file + rename). Any server, the original or a restarted one,
reads the status from the file once the wrapper is gone.

A cancel sends SIGTERM to the whole group; the wrapper catches it and keeps waiting so it can
still record the command's status. (A Python-level handler is reset to the default action by
exec, so the command itself still gets SIGTERM normally.) If the grace period runs out, SIGKILL
ends the wrapper too and no status is written: the server then records the cancel without one.

The exit status follows :mod:`subprocess`: the command's return code, or ``-N`` when signal N
ended it. This module imports only the standard library, so it starts in a few milliseconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType


def write_exit_file(path: str, code: int) -> None:
    """Write ``code`` to ``path`` atomically: a reader sees no file or the whole number."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(f"{code}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_exit_file(path: str) -> int | None:
    """The exit status a wrapper recorded in ``path``, or None if there is none (yet)."""
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def _keep_waiting(signum: int, frame: FrameType | None) -> None:
    # The command got the same signal (it was sent to the group); we only wait and record.
    return None


def run(exit_file: str, argv: list[str]) -> int:
    """Run ``argv``, record its exit status in ``exit_file``, and return it."""
    signal.signal(signal.SIGTERM, _keep_waiting)
    signal.signal(signal.SIGINT, _keep_waiting)
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"Error: cannot start {argv[0]}: {exc}", file=sys.stderr, flush=True)
        code = 127
    else:
        code = child.wait()
    write_exit_file(exit_file, code)
    return code


def main(args: list[str]) -> int:
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m datasety.server.jobs.wrapper EXIT_FILE -- ARGV...", file=sys.stderr)
        return 2
    code = run(args[0], args[2:])
    # Mirror the command's status as a process exit status (a signal N becomes 128 + N).
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
