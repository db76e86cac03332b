"""One Alembic schema for SQLite and PostgreSQL: migrated on open, once, the same on both;
a PostgreSQL server that is down or dies gives a clear error and loses nothing."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.postgres import PostgresServer, find_postgres_bin
from trainsmart.errors import StateUnavailable, redact
from trainsmart.state import InputLog, JobStore, SqliteDatabase, open_url
from trainsmart.state.migrate import (
    HEAD,
    MIGRATIONS,
    REVISIONS,
    current_revision,
    sqlalchemy_url,
    upgrade,
)
from trainsmart.state.postgres import translate

pytestmark = pytest.mark.sqlite  # chooses its backends itself: run once, in the SQLite run


def schema(url: str) -> dict[str, object]:
    """Tables -> (columns with nullability and primary key, indexes with uniqueness)."""
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        inspector = sa.inspect(engine)
        return {
            table: (
                sorted((c["name"], c["nullable"]) for c in inspector.get_columns(table)),
                sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
                sorted((i["name"], bool(i["unique"])) for i in inspector.get_indexes(table)),
            )
            for table in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


def test_head_is_alembics_newest_revision() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


def test_sqlite_and_postgresql_get_the_same_schema(tmp_path: Path, postgres_url: str) -> None:
    lite, pg = SqliteDatabase(tmp_path / "state.db"), open_url(postgres_url)
    assert current_revision(lite.connection(), lite.Error) == HEAD
    assert current_revision(pg.connection(), pg.Error) == HEAD
    pg.close()
    ours, theirs = schema(f"sqlite:///{tmp_path / 'state.db'}"), schema(postgres_url)
    assert ours.keys() == theirs.keys() and "leases" in ours and "jobs" in ours
    for table in ours:
        # SQLite names the index behind a UNIQUE constraint itself; compare named ones
        mine, other = ours[table], theirs[table]
        assert mine[0] == other[0] and mine[1] == other[1], table  # type: ignore[index]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a database with no tables yet, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_an_older_revision_is_upgraded_on_open(empty_url: str) -> None:
    url = empty_url
    upgrade(url, "0001")  # a database made by the previous release
    db = open_url(url)
    assert current_revision(db.connection(), db.Error) == HEAD
    assert db.connection().execute("SELECT count(*) FROM leases").fetchone()[0] == 0
    db.close()


def test_processes_opening_a_new_database_together_migrate_it_once(empty_url: str) -> None:
    url = empty_url
    start, errors, opened = threading.Barrier(4), [], []

    def open_it() -> None:
        start.wait()
        try:
            opened.append(open_url(url))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(opened) == 4
    versions = opened[0].connection().execute("SELECT version_num FROM alembic_version")
    assert [r[0] for r in versions] == [HEAD]
    for db in opened:
        db.close()


def test_sql_is_translated_for_psycopg() -> None:
    assert translate("SELECT * FROM t WHERE a = ? AND b LIKE 'x%'") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%'"
    )


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    from tests.services import free_port

    find_postgres_bin()  # psycopg and the server package: skip like the others without them
    url = f"postgresql://trainsmart:s3cret@127.0.0.1:{free_port()}/trainsmart"
    with pytest.raises(StateUnavailable) as caught:
        open_url(url, connect_timeout_s=2)
    message = str(caught.value)
    assert "trainsmart:***@127.0.0.1" in message and "s3cret" not in message
    assert "check that the server runs" in message


def test_a_dead_server_fails_writes_cleanly_and_they_work_once_it_is_back() -> None:
    with PostgresServer(find_postgres_bin()) as server:
        db = open_url(server.create_database(), connect_timeout_s=2)
        log, jobs = InputLog(db), JobStore(db)
        log.append("before", "fair", "v1", [{"x": 1}], [{"class": "0"}], [False])
        server.kill()
        with pytest.raises(StateUnavailable, match="could not be written"):
            log.append("during", "fair", "v1", [{"x": 2}], [{"class": "0"}], [False])
        server.start()
        log.append("after", "fair", "v1", [{"x": 3}], [{"class": "0"}], [False])
        assert [r.request_id for r in log.recent("fair", 10)] == ["before", "after"]
        assert jobs.create("fair", "drift") is not None
        db.close()


def test_a_database_migrated_by_a_newer_release_is_refused_clearly(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "state.db")
    with db.transaction() as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StateUnavailable, match="revision 9999, newer than this release's"):
        SqliteDatabase(tmp_path / "state.db")


def test_every_revision_is_listed_oldest_first() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    walked = [s.revision for s in ScriptDirectory.from_config(config).walk_revisions()]
    assert tuple(reversed(walked)) == REVISIONS


def test_passwords_are_redacted_from_urls() -> None:
    assert redact("postgresql://app:pw@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact("postgresql://db/x?user=app&password=pw&sslmode=require") == (
        "postgresql://db/x?user=app&password=***&sslmode=require"
    )
    assert redact("sqlite:////tmp/state.db") == "sqlite:////tmp/state.db"


def test_a_file_of_the_last_release_before_alembic_is_adopted_with_its_rows(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.executescript((Path(__file__).parent / "data" / "schema3.sql").read_text())
        conn.execute(
            "INSERT INTO inputs (request_id, row_index, ts, model, version, features,"
            " prediction, cache_hit) VALUES ('r1', 0, 1.0, 'fair', 'v1', '{}', '{}', 0)"
        )
        conn.execute("INSERT INTO production VALUES ('fair', 0, 'v1')")
    db = SqliteDatabase(old)
    assert current_revision(db.connection(), db.Error) == HEAD
    assert InputLog(db).count("fair") == 1
    assert db.connection().execute("SELECT version FROM production").fetchone()[0] == "v1"
    # the adopted file has every table and column a new one has
    SqliteDatabase(tmp_path / "new.db")
    adopted, fresh = schema(f"sqlite:///{old}"), schema(f"sqlite:///{tmp_path / 'new.db'}")
    assert adopted.keys() == fresh.keys()
    for table in fresh:
        # SQLite reports an INTEGER PRIMARY KEY made without NOT NULL as nullable; it is
        # the rowid and never NULL, so primary-key columns are compared by name only
        keys = set(fresh[table][1])  # type: ignore[index]
        for columns in (adopted[table][0], fresh[table][0]):  # type: ignore[index]
            columns[:] = [(n, None if n in keys else null) for n, null in columns]
        assert adopted[table][0] == fresh[table][0], table  # type: ignore[index]
