"""SQLite in WAL mode, safe for several processes and threads (the one-machine default).

Each thread gets its own connection (sqlite3 connections must not cross threads);
writers wait on the lock up to ``busy_timeout`` instead of failing.

WAL mode is set on the file by whichever connection opens it first. SQLite answers that
switch with "database is locked" at once, without waiting on ``busy_timeout``, when
another connection is switching the same new file at the same moment (the service's
workers and the monitor starting together on a fresh ``data_dir``): :func:`connect`
retries it until ``busy_timeout`` has passed, as SQLite does for every other lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from trainsmart.errors import StateUnavailable
from trainsmart.state.db import Connection, Database
from trainsmart.state.migrate import migrate


def connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` in WAL mode (set on the file if not yet),
    in autocommit mode (transactions are explicit), waiting up to ``busy_timeout_s`` on locks.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        _use_wal(conn, path, busy_timeout_s)
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    conn.row_factory = sqlite3.Row
    return conn


def _use_wal(conn: sqlite3.Connection, path: Path, busy_timeout_s: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the lock it needs
    (SQLite's busy handler does not cover this switch)."""
    deadline, pause = time.monotonic() + busy_timeout_s, 0.002
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
            continue
        if str(mode).lower() != "wal":
            raise StateUnavailable(
                f"the state database {path} cannot use WAL mode (SQLite kept {mode!r}); put "
                "data_dir on a local file system, or set database_url to a PostgreSQL server"
            )
        return


class SqliteDatabase(Database):
    """A SQLite file shared by the processes of one machine.

    Example::

        db = SqliteDatabase(settings.paths.state_db)
        with db.transaction() as conn:
            conn.execute("SELECT count(*) FROM inputs")
    """

    Error = sqlite3.Error
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        if sqlite3.sqlite_version_info < (3, 35):
            raise StateUnavailable(
                f"this Python links SQLite {sqlite3.sqlite_version}; trainsmart needs 3.35 or "
                "newer (RETURNING, upserts): use a newer Python build, or set database_url to "
                "a PostgreSQL server"
            )
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            migrate(self)
        except (OSError, sqlite3.Error) as exc:
            raise StateUnavailable(
                f"the state database {self.path} cannot be opened and written ({exc}); check "
                f"that {self.path.parent} is a writable directory (data_dir) with free space"
            ) from exc

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def dialect(self) -> str:
        return "sqlite"

    def connection(self) -> Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self._busy_timeout_s)
            self._local.conn = conn
        return cast(Connection, conn)

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Connection]:
        """BEGIN IMMEDIATE: the write lock of the whole file, so ``lock`` needs nothing more."""
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
