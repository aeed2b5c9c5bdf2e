"""Linux process facts read from ``/proc``: is a process alive, which processes form a group.

A pid alone is not proof: after a server restart the pid in a row may belong to an unrelated
process, and an exited child that nobody reaped yet (a zombie) still answers ``kill(pid, 0)``.
These helpers read the process state, group and command line instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name, or None if there is no process."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The name is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rfind(")") + 2 :].split()


def is_running(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def process_group(pid: int) -> int | None:
    """The process group of ``pid``, or None if it is gone."""
    fields = _stat_fields(pid)
    return int(fields[2]) if fields is not None else None


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` ([] if it is gone or unreadable)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def all_pids() -> list[int]:
    """Every pid visible in /proc."""
    return [int(name) for name in os.listdir(PROC) if name.isdigit()]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for pid in all_pids():
        fields = _stat_fields(pid)
        if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(pid)
    return members


def children(parent: int) -> list[int]:
    """Live (non-zombie) processes whose parent is ``parent``."""
    found = []
    for pid in all_pids():
        fields = _stat_fields(pid)
        if fields is not None and fields[0] not in ("Z", "X") and int(fields[1]) == parent:
            found.append(pid)
    return found


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to every process of group ``pgid``; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
