"""Bring a state database to the newest schema with Alembic, once per process and database.

A process that opens the database checks ``alembic_version`` (one query); only when it is
behind does it run ``alembic upgrade head``, holding a lock so that several processes
starting together (service workers, the monitor, a retrain job) migrate it once:
PostgreSQL's advisory lock, or a lock file beside the SQLite file.

Maintainers add a revision under ``migrations/versions`` and raise :data:`HEAD`
(tests/trainsmart/state/test_migrate.py checks that it is Alembic's head)::

    alembic -c trainsmart/state/migrations/alembic.ini revision -m "what changes"
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainsmart.errors import StateUnavailable
from trainsmart.settings.urls import sqlite_file, url_scheme

REVISIONS = ("0001", "0002")
"""Every revision in ``migrations/versions``, oldest first."""
HEAD = REVISIONS[-1]
"""The newest revision: the schema this release reads and writes."""

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = "trainsmart:migrate"


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


def current_revision(conn: Any, error: type[Exception]) -> str | None:
    """The database's Alembic revision (None: none yet), read with the caller's connection."""
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except error:
        return None
    return None if row is None else str(row[0])


def migrate(db: Any) -> None:
    """Upgrade ``db`` (a Database with ``url``, ``connection()``, ``Error``) to :data:`HEAD`.

    Raises ``MigrationError`` (a ``StateUnavailable``) when the database is at a revision
    this release does not know (a newer release migrated it) or the upgrade fails."""
    found = current_revision(db.connection(), db.Error)
    if found == HEAD:
        return
    if found is not None and found not in REVISIONS:
        raise StateUnavailable(
            f"the state database {db.where} has schema revision {found}, newer than this "
            f"release's {HEAD}: a newer trainsmart migrated it; run that release here too "
            "(schemas are not downgraded by themselves)"
        )
    # lazy: alembic and sqlalchemy only when a schema must be upgraded
    import sqlalchemy.exc
    from alembic.util import CommandError

    try:
        upgrade(db.url)
    except (sqlalchemy.exc.SQLAlchemyError, CommandError) as exc:
        raise StateUnavailable(
            f"the state database {db.where} could not be migrated to schema {HEAD} "
            f"({type(exc).__name__}: {exc}); check that its user may create and alter tables"
        ) from exc


def upgrade(url: str, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` on the database at ``url``, under the migration lock."""
    # lazy: alembic and sqlalchemy, as above
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with _migration_lock(url), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(_LOCK_KEY)}
                )
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def sqlalchemy_url(url: str) -> str:
    """``url`` as SQLAlchemy names it: PostgreSQL through psycopg 3."""
    scheme, rest = url.split(":", 1)
    if scheme.lower() in ("postgresql", "postgres"):
        return f"postgresql+psycopg:{rest}"
    return url


@contextlib.contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """A lock file beside a SQLite database (PostgreSQL locks inside the transaction)."""
    path = sqlite_file(url) if url_scheme(url) == "sqlite" else None
    if path is None:
        yield
        return
    # lazy: fcntl is POSIX-only
    import fcntl

    with open(path.with_name(path.name + ".migrate-lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
