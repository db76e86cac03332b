"""PostgreSQL for several replicas: a bounded connection pool and SQLite's SQL, translated.

The state modules write SQL once, with ``?`` placeholders; here it becomes psycopg's
``%s``. Reads outside a transaction borrow a pooled connection for one statement and
return its rows; a transaction keeps one connection from BEGIN to COMMIT and, given a
``lock`` name, first takes a transaction-scoped advisory lock on it, so read-then-write
changes (promotion, rollback, the candidate) from several machines run one at a time.

Example::

    db = PostgresDatabase("postgresql://trainsmart:secret@db:5432/trainsmart", pool_size=10)
    with db.transaction(lock="production:fair") as conn:
        conn.execute("SELECT version FROM production WHERE model = ?", ("fair",))
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from trainsmart.errors import ConfigError, StateUnavailable, redact
from trainsmart.state.db import Connection, Database
from trainsmart.state.migrate import lock_key, migrate

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class PgRow:
    """A row addressable by position and by column name, like ``sqlite3.Row``."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values, self._index = values, index

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key if isinstance(key, int) else self._index[key]]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def keys(self) -> list[str]:
        return list(self._index)


class Result:
    """A statement's rows, read in full (the state modules' reads are bounded)."""

    def __init__(self, rows: list[PgRow], rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def fetchone(self) -> PgRow | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[PgRow]:
        return list(self._rows)

    def __iter__(self) -> Iterator[PgRow]:
        return iter(self._rows)


def _run(conn: Any, sql: str, parameters: Sequence[Any]) -> Result:
    cur = conn.execute(translate(sql), tuple(parameters))
    if cur.description is None:
        return Result([], cur.rowcount)
    index = {column.name: i for i, column in enumerate(cur.description)}
    return Result([PgRow(values, index) for values in cur.fetchall()], cur.rowcount)


class TransactionConnection:
    """The connection of one transaction, speaking the state modules' SQL."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Result:
        return _run(self._conn, sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Result:
        with self._conn.cursor() as cur:
            cur.executemany(translate(sql), [tuple(p) for p in parameters])
            return Result([], cur.rowcount)


class PooledReader:
    """Reads outside a transaction: each statement on a pooled connection, autocommitted."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Result:
        with self._pool.connection() as conn:
            return _run(conn, sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Result:
        with self._pool.connection() as conn, conn.transaction():
            return TransactionConnection(conn).executemany(sql, parameters)


class PostgresDatabase(Database):
    """The state on a PostgreSQL server, shared by every replica, monitor and job."""

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout_s: float = 10.0) -> None:
        try:
            # lazy: psycopg is the optional postgres extra
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise ConfigError(
                "database_url names PostgreSQL but psycopg or psycopg-pool is not installed; "
                "pip install 'trainsmart[postgres]'"
            ) from exc
        self.Error = psycopg.Error
        self.IntegrityError = psycopg.IntegrityError
        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(connect_timeout_s))},
            check=ConnectionPool.check_connection,
            timeout=30.0,
            open=False,
            name="trainsmart-state",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
            migrate(self)
        except StateUnavailable:
            self._pool.close()
            raise
        except (psycopg.Error, OSError) as exc:
            self._pool.close()
            raise StateUnavailable(
                f"the state database {self.where} cannot be reached or migrated ({exc}); check "
                "that the server runs, that database_url's host, port, user, password and "
                "database are right, and that the user may create tables"
            ) from exc

    @property
    def where(self) -> str:
        return redact(self.url)

    @property
    def dialect(self) -> str:
        return "postgresql"

    def connection(self) -> Connection:
        return PooledReader(self._pool)

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Connection]:
        with self._pool.connection() as conn, conn.transaction():
            if lock is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(lock),))
            yield TransactionConnection(conn)

    def close(self) -> None:
        self._pool.close()
