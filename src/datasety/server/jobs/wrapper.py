"""Run one job's command, record how it ended, and leave no process of it behind.

Usage (the local executor builds this line; nobody types it)::

    python -m datasety.server.jobs.wrapper EXIT_FILE -- COMMAND ARGV...

Why a wrapper: a server learns a child's exit status from ``waitpid``, but only for its own
children. After a server crash (or a restart for an upgrade) the job keeps running, and the
next server must still learn how it ended. So the executor starts this small process as the
leader of a new session and process group; it runs the command as its child in that group
(the job's log file is their stdout and stderr), waits for it, and writes the exit status to
EXIT_FILE atomically (temporary file + rename). Any server, the original or a restarted one,
reads the status from the file once the wrapper is gone.

The wrapper is also the job's reaper (``PR_SET_CHILD_SUBREAPER``): worker processes orphaned
when the command exits (a process pool that is still winding down) become its children
instead of init's. Once the command has exited, the wrapper sends what is left SIGTERM, gives
it ``LEFTOVER_GRACE`` seconds (a worker stopped mid-write removes its temporary file), then
kills the rest, reaps everything, and exits. So the wrapper's exit means: nothing of the job runs.

Signals: a cancel sends SIGTERM to the whole group; the wrapper catches it and keeps waiting,
so it can still record the status (a Python-level handler is reset to the default by exec, so
the command gets SIGTERM normally). When the grace period runs out, the executor SIGKILLs the
group's other processes first, so the wrapper still records ``-9`` and reaps them.

The exit status follows :mod:`subprocess`: the command's return code, or ``-N`` when signal N
ended it. Only the standard library is imported, so the wrapper starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from types import FrameType

from datasety.server.jobs import procs

LEFTOVER_GRACE = 2.0
_PR_SET_CHILD_SUBREAPER = 36


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


def _become_subreaper() -> None:
    """Adopt orphaned descendants (Linux); elsewhere they go to init as usual."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap() -> bool:
    """Reap every exited child; True while some child is still running."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _others() -> list[int]:
    """Live processes of this job other than the wrapper: its group, and adopted orphans."""
    me = os.getpid()
    found = set(procs.group_members(os.getpgid(0))) | set(procs.children(me))
    found.discard(me)
    return sorted(found)


def end_leftovers(grace: float = LEFTOVER_GRACE) -> None:
    """SIGTERM the job's other processes, give them ``grace`` seconds, then kill and reap."""
    for pid in _others():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while True:
        children = _reap()
        others = _others()
        if not children and not others:
            return
        if time.monotonic() >= deadline:
            for pid in others:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def run(exit_file: str, argv: list[str]) -> int:
    """Run ``argv``, record its exit status in ``exit_file``, clean up, and return it."""
    if os.getpgid(0) != os.getpid():
        # Run by hand (not by the executor): lead a group of our own, so that ending the
        # group's leftovers can never reach the shell that started us.
        os.setsid()
    _become_subreaper()
    signal.signal(signal.SIGTERM, _keep_waiting)
    signal.signal(signal.SIGINT, _keep_waiting)
    try:
        child = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        print(f"Error: cannot start {argv[0]}: {exc}", file=sys.stderr, flush=True)
        code = 127
    else:
        while True:
            # Reaps adopted orphans too; only the command's own status is recorded.
            pid, status = os.wait()
            if pid == child:
                code = os.waitstatus_to_exitcode(status)
                break
    write_exit_file(exit_file, code)
    end_leftovers()
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
