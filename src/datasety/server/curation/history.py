"""Caption history and operations in the store: what every caption change through the server
replaced, and which bulk operation (if any) made it, so that any version can be restored and
an operation undone as one step.

Retention (bounded storage): rows older than :data:`KEEP_SECONDS` go, and past
:data:`MAX_ROWS` changes per dataset the oldest go first; an operation goes with its changes
(its trashed files with it, see :mod:`datasety.server.curation.trash`). Pruning runs on each write.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any

from datasety.core.errors import ConflictError, NotFoundError
from datasety.server.store import Store

KEEP_SECONDS = 30 * 24 * 3600
MAX_ROWS = 200_000
OPERATION_NOT_FOUND = "Operation not found"
VERSION_NOT_FOUND = "Version not found"
ALREADY_UNDONE = "Operation already undone"


@dataclass(frozen=True)
class Change:
    """One caption change: ``target`` went from ``before`` to ``after`` (None: absent)."""

    target: str
    item: str  # the media file it is the caption of (or the target itself)
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Move:
    """A file moved by an operation: ``source`` (dataset path) to ``dest`` (a dataset path,
    or an absolute path in the trash)."""

    source: str
    dest: str


def record(
    store: Store,
    dataset_id: str,
    changes: list[Change],
    source: str,
    operation_id: str | None = None,
) -> None:
    """Record ``changes`` (those that changed something), then prune."""
    now = time.time()
    rows = [
        (dataset_id, c.target, c.item, c.before, c.after, source, operation_id, now)
        for c in changes
        if c.before != c.after
    ]
    if not rows:
        return
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO caption_history (dataset_id, target, item, before, after, source, "
            "operation_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        _prune(conn, dataset_id, now)


def start_operation(
    store: Store, dataset_id: str, op: str, params: dict[str, Any], items: int
) -> str:
    """A new operation's id (its changes and moves are recorded under it)."""
    operation_id = str(uuid.uuid4())
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO operations (id, dataset_id, op, params, items, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (operation_id, dataset_id, op, json.dumps(params), items, time.time()),
        )
    return operation_id


def record_moves(store: Store, operation_id: str, moves: list[Move]) -> None:
    if not moves:
        return
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO file_moves (operation_id, source, dest) VALUES (?, ?, ?)",
            [(operation_id, m.source, m.dest) for m in moves],
        )


def operation(store: Store, dataset_id: str, operation_id: str) -> dict[str, Any]:
    rows = store.query(
        "SELECT * FROM operations WHERE id = ? AND dataset_id = ?", (operation_id, dataset_id)
    )
    if not rows:
        raise NotFoundError(OPERATION_NOT_FOUND)
    return _operation_json(rows[0])


def operations(store: Store, dataset_id: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT * FROM operations WHERE dataset_id = ? ORDER BY created_at DESC LIMIT ?",
        (dataset_id, limit),
    )
    return [_operation_json(row) for row in rows]


def operation_changes(store: Store, operation_id: str) -> tuple[list[Change], list[Move]]:
    changes = [
        Change(row["target"], row["item"], row["before"], row["after"])
        for row in store.query(
            "SELECT * FROM caption_history WHERE operation_id = ? AND source != 'undo' ORDER BY id",
            (operation_id,),
        )
    ]
    moves = [
        Move(row["source"], row["dest"])
        for row in store.query(
            "SELECT * FROM file_moves WHERE operation_id = ? ORDER BY id", (operation_id,)
        )
    ]
    return changes, moves


def mark_undone(store: Store, operation_id: str) -> None:
    """Mark the operation undone; 409 if it already was (two undos at once: one wins)."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE operations SET undone_at = ? WHERE id = ? AND undone_at IS NULL",
            (time.time(), operation_id),
        )
        if cursor.rowcount == 0:
            raise ConflictError(ALREADY_UNDONE)


def versions(store: Store, dataset_id: str, target: str, limit: int = 200) -> list[dict[str, Any]]:
    """The recorded versions of ``target``, newest first."""
    rows = store.query(
        "SELECT * FROM caption_history WHERE dataset_id = ? AND target = ? "
        "ORDER BY id DESC LIMIT ?",
        (dataset_id, target, limit),
    )
    return [_version_json(row) for row in rows]


def version(store: Store, dataset_id: str, version_id: int) -> tuple[Change, dict[str, Any]]:
    rows = store.query(
        "SELECT * FROM caption_history WHERE dataset_id = ? AND id = ?", (dataset_id, version_id)
    )
    if not rows:
        raise NotFoundError(VERSION_NOT_FOUND)
    row = rows[0]
    return Change(row["target"], row["item"], row["before"], row["after"]), _version_json(row)


def expired_operations(store: Store) -> list[str]:
    """Ids of operations past retention (their trash can go)."""
    rows = store.query(
        "SELECT id FROM operations WHERE created_at < ?", (time.time() - KEEP_SECONDS,)
    )
    return [row["id"] for row in rows]


def forget_operations(store: Store, operation_ids: list[str]) -> None:
    with store.transaction() as conn:
        for operation_id in operation_ids:
            conn.execute("DELETE FROM file_moves WHERE operation_id = ?", (operation_id,))
            conn.execute("DELETE FROM operations WHERE id = ?", (operation_id,))


def _prune(conn: sqlite3.Connection, dataset_id: str, now: float) -> None:
    conn.execute("DELETE FROM caption_history WHERE created_at < ?", (now - KEEP_SECONDS,))
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM caption_history WHERE dataset_id = ?", (dataset_id,)
    ).fetchone()
    if count > MAX_ROWS:
        conn.execute(
            "DELETE FROM caption_history WHERE id IN (SELECT id FROM caption_history "
            "WHERE dataset_id = ? ORDER BY id LIMIT ?)",
            (dataset_id, count - MAX_ROWS),
        )


def _operation_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "op": row["op"],
        "params": json.loads(row["params"]),
        "items": row["items"],
        "created_at": row["created_at"],
        "undone_at": row["undone_at"],
    }


def _version_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "text": row["after"],
        "before": row["before"],
        "source": row["source"],
        "operation": row["operation_id"],
        "created_at": row["created_at"],
    }
