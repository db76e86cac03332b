"""The state database: one interface, two backends, one schema.

SQLite (the default, a file under ``data_dir``) serves one machine; PostgreSQL
(``database_url: postgresql://...``) serves several replicas, the monitor and the
retrain jobs from one place. Both run the same SQL: ``?`` placeholders, portable
upserts (``ON CONFLICT``) and ``RETURNING``. The schema is Alembic's
(``trainsmart/state/migrations``); a database is brought to the newest revision the
first time a process opens it.

Example::

    db = open_database(settings)            # SQLite or PostgreSQL, from database_url
    with db.transaction(lock="production:fair") as conn:
        conn.execute("SELECT count(*) FROM inputs").fetchone()
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from trainsmart.errors import redact

if TYPE_CHECKING:
    from trainsmart.settings import Settings


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


def url_scheme(url: str) -> str:
    """The scheme of a database URL, lower case and without a driver (``postgresql`` of
    ``postgresql+psycopg://...``)."""
    return url.split(":", 1)[0].split("+", 1)[0].lower()


def sqlite_file(url: str) -> Path | None:
    """The file of ``sqlite:///path/file.db`` (None: the URL names none)."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return Path(path) if path else None


def open_url(url: str, **options: Any) -> Database:
    """The database at ``url``: ``sqlite:///path/to/file.db`` or ``postgresql://...``."""
    scheme = url_scheme(url)
    if scheme == "sqlite":
        from trainsmart.state.sqlite import SqliteDatabase

        path = sqlite_file(url)
        if path is None:
            from trainsmart.errors import ConfigError

            raise ConfigError(f"database_url {url!r} names no file; use sqlite:///path/file.db")
        return SqliteDatabase(path, **options)
    if scheme in ("postgresql", "postgres"):
        from trainsmart.state.postgres import PostgresDatabase

        return PostgresDatabase(url, **options)
    from trainsmart.errors import ConfigError

    raise ConfigError(
        f"database_url {redact(url)!r} is neither sqlite:/// nor postgresql://; set one of them"
    )


def open_database(settings: Settings) -> Database:
    """The database ``settings`` name: ``database_url``, else SQLite under ``data_dir``."""
    if settings.database_url is None:
        from trainsmart.state.sqlite import SqliteDatabase

        return SqliteDatabase(settings.paths.state_db)
    options: dict[str, Any] = {}
    url = settings.database_url.get_secret_value()
    if url_scheme(url) != "sqlite":
        options["pool_size"] = settings.database_pool_size
    return open_url(url, **options)
