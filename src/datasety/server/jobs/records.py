"""Job rows in the server's store: the only module that writes SQL about jobs.

The ``jobs`` table comes from the store's ``0002_jobs`` migration. ``seq`` (an autoincrement
rowid) is the queue's order: first in, first out, and the order of retention.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from datasety.server.store import Store

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class JobRow:
    """One row of ``jobs``."""

    seq: int
    id: str
    command: str
    argv: list[str]
    status: str
    exit_code: int | None
    error: str | None
    progress: dict[str, Any] | None
    pid: int | None
    pgid: int | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    gpu: str | None = None  # the GPU it holds while it runs (CUDA_VISIBLE_DEVICES)

    @property
    def has_process(self) -> bool:
        """Started and not yet ended: a process may exist (running, or cancelled and dying)."""
        return self.started_at is not None and self.ended_at is None


def _row(row: sqlite3.Row) -> JobRow:
    return JobRow(
        seq=row["seq"],
        id=row["id"],
        command=row["command"],
        argv=json.loads(row["argv"]),
        status=row["status"],
        exit_code=row["exit_code"],
        error=row["error"],
        progress=json.loads(row["progress"]) if row["progress"] else None,
        pid=row["pid"],
        pgid=row["pgid"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        gpu=row["gpu"],
    )


class JobRecords:
    """Reads and writes job rows through the server's :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, job_id: str, command: str, argv: list[str]) -> JobRow:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, command, argv, status, created_at) VALUES (?, ?, ?, ?, ?)",
                (job_id, command, json.dumps(argv), QUEUED, time.time()),
            )
        found = self.get(job_id)
        assert found is not None
        return found

    def get(self, job_id: str) -> JobRow | None:
        rows = self.store.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _row(rows[0]) if rows else None

    def all(self, newest_first: bool = True) -> list[JobRow]:
        order = "DESC" if newest_first else "ASC"
        return [_row(row) for row in self.store.query(f"SELECT * FROM jobs ORDER BY seq {order}")]

    def queued(self) -> list[JobRow]:
        """Queued jobs, first in first out."""
        rows = self.store.query("SELECT * FROM jobs WHERE status = ? ORDER BY seq", (QUEUED,))
        return [_row(row) for row in rows]

    def with_process(self) -> list[JobRow]:
        """Jobs started and not ended (running, or cancelled while their process was dying)."""
        rows = self.store.query(
            "SELECT * FROM jobs WHERE started_at IS NOT NULL AND ended_at IS NULL ORDER BY seq"
        )
        return [_row(row) for row in rows]

    def mark_starting(self, job_id: str, gpu: str | None = None) -> bool:
        """queued -> running (holding ``gpu``), before the process exists (False if it is no
        longer queued)."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET status = ?, started_at = ?, gpu = ? WHERE id = ? AND status = ?",
                (RUNNING, time.time(), gpu, job_id, QUEUED),
            )
        return cursor.rowcount == 1

    def set_process(self, job_id: str, pid: int, pgid: int) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE jobs SET pid = ?, pgid = ? WHERE id = ?", (pid, pgid, job_id))

    def cancel_queued(self, job_id: str) -> bool:
        """queued -> cancelled, never started (False if it is no longer queued)."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET status = ?, ended_at = ? WHERE id = ? AND status = ?",
                (CANCELLED, time.time(), job_id, QUEUED),
            )
        return cursor.rowcount == 1

    def cancel_running(self, job_id: str) -> bool:
        """running -> cancelled; the process is still being stopped, ``ended_at`` comes later."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET status = ? WHERE id = ? AND status = ?",
                (CANCELLED, job_id, RUNNING),
            )
        return cursor.rowcount == 1

    def finish(
        self,
        job_id: str,
        status: str,
        exit_code: int | None,
        error: str | None,
        progress: dict[str, Any] | None,
    ) -> None:
        """Record the end. A cancelled job stays cancelled, whatever ``status`` says."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = CASE WHEN status = ? THEN status ELSE ? END,"
                " exit_code = ?, error = CASE WHEN status = ? THEN NULL ELSE ? END,"
                " progress = COALESCE(?, progress), ended_at = ? WHERE id = ?",
                (
                    CANCELLED,
                    status,
                    exit_code,
                    CANCELLED,
                    error,
                    json.dumps(progress) if progress else None,
                    time.time(),
                    job_id,
                ),
            )

    def finished_beyond(self, keep: int) -> list[str]:
        """Ids of ended jobs beyond the newest ``keep`` of them, oldest first."""
        rows = self.store.query(
            "SELECT id FROM jobs WHERE ended_at IS NOT NULL ORDER BY seq DESC LIMIT -1 OFFSET ?",
            (keep,),
        )
        return [row["id"] for row in reversed(rows)]

    def delete(self, job_ids: list[str]) -> None:
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(job_id,) for job_id in job_ids])
