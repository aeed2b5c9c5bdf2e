"""The server's state: SQLite in WAL mode in the data dir, schema changes as named migrations.

No module keeps datasets or jobs in memory: they are rows here, so a restart loses nothing.

To change the schema, append a ``(name, sql)`` pair to :data:`MIGRATIONS`; never edit or
reorder one that has shipped. Each runs once, in one transaction, and is recorded by name in
the ``migrations`` table.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from datasety.core.errors import NotFoundError

DB_NAME = "datasety.sqlite3"

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_datasets",
        """
        CREATE TABLE datasets (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            type TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        """,
    ),
    (
        # Jobs (server/jobs/records.py): `seq` is the queue order; pid/pgid find the process
        # again after a restart.
        "0002_jobs",
        """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            command TEXT NOT NULL,
            argv TEXT NOT NULL,
            status TEXT NOT NULL,
            exit_code INTEGER,
            error TEXT,
            progress TEXT,
            pid INTEGER,
            pgid INTEGER,
            created_at REAL NOT NULL,
            started_at REAL,
            ended_at REAL
        );
        CREATE INDEX jobs_by_status ON jobs (status, seq);
        """,
    ),
    (
        # The GPU a running job holds (its CUDA_VISIBLE_DEVICES), so that a restarted server
        # knows which GPUs the jobs it re-adopts still hold.
        "0003_job_gpu",
        "ALTER TABLE jobs ADD COLUMN gpu TEXT;",
    ),
    (
        # Caption history and undo (server/curation/history.py): every caption change made
        # through the server with the text it replaced; `target` is a caption file's dataset path or
        # "metadata.csv#<row id>"; NULL before/after: the file or row did not exist. A bulk
        # operation's changes share its `operation_id`; its file moves (trash, move) are
        # `file_moves` rows (`dest` relative to the dataset, or absolute in the trash).
        "0004_caption_history",
        """
        CREATE TABLE operations (
            id TEXT PRIMARY KEY,
            dataset_id TEXT NOT NULL,
            op TEXT NOT NULL,
            params TEXT NOT NULL,
            items INTEGER NOT NULL,
            created_at REAL NOT NULL,
            undone_at REAL
        );
        CREATE INDEX operations_by_dataset ON operations (dataset_id, created_at);
        CREATE TABLE caption_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset_id TEXT NOT NULL,
            target TEXT NOT NULL,
            item TEXT NOT NULL,
            before TEXT,
            after TEXT,
            source TEXT NOT NULL,
            operation_id TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX caption_history_by_target ON caption_history (dataset_id, target, id);
        CREATE INDEX caption_history_by_item ON caption_history (dataset_id, item, id);
        CREATE INDEX caption_history_by_operation ON caption_history (operation_id);
        CREATE INDEX caption_history_by_time ON caption_history (created_at);
        CREATE TABLE file_moves (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            operation_id TEXT NOT NULL,
            source TEXT NOT NULL,
            dest TEXT NOT NULL
        );
        CREATE INDEX file_moves_by_operation ON file_moves (operation_id);
        """,
    ),
]

DATASET_NOT_FOUND = "Dataset not found"


@dataclass(frozen=True)
class Dataset:
    """A registered dataset folder, as the spec shows it."""

    id: str
    name: str
    path: str
    type: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Store:
    """One SQLite connection shared by the server's threads, serialised by a lock.

    Use :meth:`transaction` for anything that writes; it commits on success and rolls back
    on any exception.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN in `transaction`).
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self.migrate()

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        """The store of ``data_dir`` (created, and migrated to the latest schema)."""
        return cls(data_dir / DB_NAME)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on error)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def applied_migrations(self) -> list[str]:
        return [row["name"] for row in self.query("SELECT name FROM migrations ORDER BY rowid")]

    def migrate(self) -> None:
        """Apply every migration not yet recorded, in order."""
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL)"
            )
            done = set(self.applied_migrations())
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                with self.transaction() as conn:
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                        (name, time.time()),
                    )

    # -- datasets ------------------------------------------------------------------------------

    def add_dataset(self, name: str, path: str, type_: str) -> tuple[Dataset, bool]:
        """Register ``path``; a path already registered answers its dataset unchanged.
        Returns the dataset and whether it is new (looked up and added in one transaction,
        so two clients registering one folder at once get one dataset)."""
        dataset = Dataset(str(uuid.uuid4()), name, path, type_, time.time())
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM datasets WHERE path = ? ORDER BY created_at, id LIMIT 1", (path,)
            ).fetchall()
            if rows:
                return _dataset(rows[0]), False
            conn.execute(
                "INSERT INTO datasets (id, name, path, type, created_at) VALUES (?, ?, ?, ?, ?)",
                (dataset.id, dataset.name, dataset.path, dataset.type, dataset.created_at),
            )
        return dataset, True

    def list_datasets(self) -> list[Dataset]:
        rows = self.query("SELECT * FROM datasets ORDER BY created_at, id")
        return [_dataset(row) for row in rows]

    def get_dataset(self, dataset_id: str) -> Dataset:
        """The dataset, or NotFoundError("Dataset not found")."""
        rows = self.query("SELECT * FROM datasets WHERE id = ?", (dataset_id,))
        if not rows:
            raise NotFoundError(DATASET_NOT_FOUND)
        return _dataset(rows[0])

    def rename_dataset(self, dataset_id: str, name: str) -> Dataset:
        with self.transaction() as conn:
            cursor = conn.execute("UPDATE datasets SET name = ? WHERE id = ?", (name, dataset_id))
            if cursor.rowcount == 0:
                raise NotFoundError(DATASET_NOT_FOUND)
        return self.get_dataset(dataset_id)

    def delete_dataset(self, dataset_id: str) -> None:
        with self.transaction() as conn:
            cursor = conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
            if cursor.rowcount == 0:
                raise NotFoundError(DATASET_NOT_FOUND)


def _dataset(row: sqlite3.Row) -> Dataset:
    return Dataset(row["id"], row["name"], row["path"], row["type"], row["created_at"])


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit mid-migration)."""
    statements: list[str] = []
    current = ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
