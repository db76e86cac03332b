"""SQLite connections in WAL mode, safe for several processes and threads.

Each thread gets its own connection (sqlite3 connections must not cross
threads); writers wait on the lock up to ``busy_timeout`` instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trainsmart.errors import StateUnavailable

SCHEMA_VERSION = 3
"""2: tables ``candidate`` and ``shadow`` (added by ``CREATE IF NOT EXISTS``).
3: job columns ``trigger``, ``actor``, ``champion_version``, ``version`` (added to an older
file by :data:`JOB_COLUMNS`), tables ``webhook_alerts`` and ``promotion_checks``."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    features TEXT NOT NULL,
    prediction TEXT NOT NULL,
    cache_hit INTEGER NOT NULL,
    UNIQUE (request_id, row_index)
);
CREATE INDEX IF NOT EXISTS inputs_model_version ON inputs (model, version, id);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    label TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (request_id, row_index)
);
CREATE TABLE IF NOT EXISTS production (
    model TEXT NOT NULL,
    position INTEGER NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (model, position)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    action TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS candidate (
    model TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    shadow INTEGER NOT NULL,
    set_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shadow (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    prediction TEXT NOT NULL,
    UNIQUE (request_id, row_index, version)
);
CREATE INDEX IF NOT EXISTS shadow_model_version ON shadow (model, version, id);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    pid INTEGER,
    log_path TEXT,
    result TEXT,
    trigger TEXT NOT NULL DEFAULT 'drift',
    actor TEXT NOT NULL DEFAULT 'monitor',
    champion_version TEXT,
    version TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_in_flight
    ON jobs (model) WHERE status IN ('queued', 'running');
CREATE TABLE IF NOT EXISTS webhook_alerts (
    group_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    received_at REAL NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (group_key, fingerprint, starts_at)
);
CREATE TABLE IF NOT EXISTS promotion_checks (
    audit_id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    previous TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
"""

JOB_COLUMNS = {
    "trigger": "TEXT NOT NULL DEFAULT 'drift'",
    "actor": "TEXT NOT NULL DEFAULT 'monitor'",
    "champion_version": "TEXT",
    "version": "TEXT",
}
"""Columns of ``jobs`` added in schema 3; a file made before gets them on open (a manual
job's reason starts with 'manual', so its trigger is set from it)."""


class Database:
    """A SQLite file shared by the service, the monitor, retrain jobs and the CLI.

    Example::

        db = Database(settings.paths.state_db)
        with db.transaction() as conn:
            conn.execute("SELECT count(*) FROM inputs")
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.connection().executescript(SCHEMA)  # idempotent; executescript commits itself
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StateUnavailable(
                f"the state database {self.path} cannot be opened and written ({exc}); check "
                f"that {self.path.parent} is a writable directory (data_dir) with free space"
            ) from exc

    def _migrate(self) -> None:
        with self.transaction() as conn:
            _add_job_columns(conn)
            if conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
                conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            else:  # the new tables were just created; record that this file has them
                conn.execute(
                    "UPDATE schema_version SET version = ? WHERE version < ?",
                    (SCHEMA_VERSION, SCHEMA_VERSION),
                )

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=True,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE): all of it commits, or none of it."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _add_job_columns(conn: sqlite3.Connection) -> None:
    """Add the schema-3 job columns to an older file (inside the caller's transaction, so
    two processes opening it at once do not both add them)."""
    present = {str(r[1]) for r in conn.execute("PRAGMA table_info(jobs)")}
    missing = [name for name in JOB_COLUMNS if name not in present]
    for name in missing:
        conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {JOB_COLUMNS[name]}")
    if "trigger" in missing:
        conn.execute(
            "UPDATE jobs SET trigger = 'manual', actor = 'unknown' WHERE reason LIKE 'manual%'"
        )
