"""The state database: one interface, two backends, one schema.

SQLite (the default, a file under ``data_dir``) serves one machine; PostgreSQL
(``database_url: postgresql://...``) serves several replicas, the monitor and the
retrain jobs from one place. Both run the same SQL: ``?`` placeholders, portable
upserts (``ON CONFLICT``) and ``RETURNING``. The schema is Alembic's
(``trainsmart/state/migrations``); a database is brought to the newest revision the
first time a process opens it.

Example::

    db = open_database(settings)   # trainsmart.state.connect: SQLite or PostgreSQL
    with db.transaction(lock="production:fair") as conn:
        conn.execute("SELECT count(*) FROM inputs").fetchone()
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Row(Protocol):
    """A result row: by position (``row[0]``) and by column name (``row["id"]``)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the state modules use of a connection (sqlite3's, or the PostgreSQL adapter)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...


class Database(ABC):
    """The state shared by the service, the monitor, retrain jobs and the CLI.

    ``Error`` is the driver's base exception (a lost server, a full disk, a lock wait that
    ran out), ``IntegrityError`` its constraint violation: callers catch these, not a
    driver's own classes.
    """

    Error: type[Exception] = Exception
    IntegrityError: type[Exception] = Exception

    @property
    @abstractmethod
    def where(self) -> str:
        """Where the database is, for messages (no password)."""

    @property
    @abstractmethod
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""

    @abstractmethod
    def connection(self) -> Connection:
        """A connection for reads outside a transaction (each statement sees committed data)."""

    @abstractmethod
    def transaction(self, lock: str | None = None) -> AbstractContextManager[Connection]:
        """A write transaction: all of it commits, or none of it.

        ``lock`` names what the transaction reads and then changes (``production:<model>``):
        transactions holding the same name run one after another, on every backend and
        across processes and machines. SQLite takes its database-wide write lock anyway.
        """

    @abstractmethod
    def close(self) -> None:
        """Release this process's connections (the database is opened again on next use)."""
