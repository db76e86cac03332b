"""The durable jobs table: trigger, actor, champion and resulting version, audited; an older
database file gains the new columns; ``trainsmart retrain`` by hand records who asked;
``trainsmart jobs`` and ``models show`` tell the story."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from apps.cli.main import cli
from apps.settings import Settings
from tests.conftest import BundleFactory
from trainsmart.registry import Registry
from trainsmart.state import Database, JobStatus, JobStore, SqliteDatabase, Trigger
from trainsmart.state.migrate import HEAD, current_revision


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


def test_a_job_records_trigger_actor_versions_and_its_audit(
    jobs: JobStore, registry: Registry
) -> None:
    job = jobs.create(
        "fair", "alert firing", trigger=Trigger.WEBHOOK, actor="alertmanager", champion_version="v1"
    )
    assert job is not None and job.status == JobStatus.QUEUED and job.pid is None
    assert jobs.create("fair", "again") is None  # single flight
    jobs.mark_running(job.id, pid=4242, log_path="/tmp/job.log")
    result = {"reason": "challenger won", "champion_version": "v1", "version": "v2"}
    jobs.finish(job.id, JobStatus.SUCCEEDED, result)
    jobs.finish(job.id, JobStatus.FAILED, {"error": "late"})  # the first outcome stays
    done = jobs.get(job.id)
    assert (done.status, done.trigger, done.actor) == (
        JobStatus.SUCCEEDED,
        Trigger.WEBHOOK,
        "alertmanager",
    )
    assert (done.champion_version, done.version, done.pid) == ("v1", "v2", 4242)
    assert done.started_at is not None and done.finished_at is not None
    assert done.outcome == "challenger won"
    assert jobs.counts("fair") == {"succeeded": 1} and jobs.counts("other") == {}
    audit = [(a.action, a.from_version, a.to_version, a.actor, a.reason) for a in registry.audit()]
    assert audit == [
        ("retrain-succeeded", "v1", "v2", f"retrain-job:{job.id}", f"job {job.id}: challenger won"),
        ("retrain-requested", "v1", None, "alertmanager", f"job {job.id} (webhook): alert firing"),
    ]


def test_a_job_created_running_is_never_queued(jobs: JobStore) -> None:
    job = jobs.create("fair", "by hand", trigger=Trigger.MANUAL, actor="user:bo", running_pid=77)
    assert job is not None
    assert (job.status, job.pid, job.trigger) == (JobStatus.RUNNING, 77, Trigger.MANUAL)
    assert job.started_at == job.created_at


OLD_JOBS = """
CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL,
    finished_at REAL, pid INTEGER, log_path TEXT, result TEXT);
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (2);
INSERT INTO jobs (model, status, reason, created_at) VALUES
    ('fair', 'succeeded', 'dataset drift in 2 consecutive windows of v1', 1.0),
    ('fair', 'failed', 'manual: trainsmart retrain', 2.0);
"""


def test_an_older_database_gains_the_job_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_JOBS)
    db = SqliteDatabase(path)
    old = JobStore(db).list()
    assert [(j.trigger, j.actor, j.version) for j in old] == [
        (Trigger.MANUAL, "unknown", None),
        (Trigger.DRIFT, "monitor", None),
    ]
    # Alembic adopted the pre-Alembic file: its revision is the newest, schema_version is gone
    assert current_revision(db.connection(), db.Error) == HEAD
    tables = {r[0] for r in db.connection().execute("SELECT name FROM sqlite_master")}
    assert "schema_version" not in tables and "leases" in tables
    SqliteDatabase(path)  # opening it again changes nothing
    assert JobStore(db).create("fair", "new", trigger=Trigger.SCHEDULE) is not None


@pytest.fixture
def config(settings: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(f"data_dir: {settings.data_dir}\nmodel_name: fair\n")
    return path


def test_a_manual_retrain_records_who_asked_and_the_cli_shows_it(
    make_bundle: BundleFactory, config: Path, jobs: JobStore, registry: Registry
) -> None:
    make_bundle()  # v1 in production; no labelled traffic: the job is rejected at once
    run = CliRunner().invoke
    env = {"TRAINSMART_ACTOR": "user:alice"}
    done = run(cli, ["--config", str(config), "retrain", "--reason", "quarterly refresh"], env=env)
    assert done.exit_code == 0, done.output
    assert "rejected: only 0 labelled rows for 'fair'" in done.output
    [job] = jobs.list("fair")
    assert (job.status, job.trigger, job.actor) == (
        JobStatus.REJECTED,
        Trigger.MANUAL,
        "user:alice",
    )
    assert (job.reason, job.champion_version, job.version) == ("quarterly refresh", "v1", None)
    requested = registry.audit("fair", action="retrain-requested")[0]
    assert requested.actor == "user:alice" and "(manual): quarterly refresh" in requested.reason
    default = run(cli, ["--config", str(config), "retrain"], env=env)
    assert default.exit_code == 0
    assert jobs.list("fair")[0].reason == "manual: trainsmart retrain by user:alice"
    wide = {"COLUMNS": "400"}
    listing = run(cli, ["--config", str(config), "jobs", "fair"], env=wide)
    assert listing.exit_code == 0, listing.output
    assert "manual" in listing.output and "user:alice" in listing.output
    assert "quarterly refresh" in listing.output and "rejected" in listing.output
    make_bundle()  # v2 promoted, then rolled back by the monitor
    registry.rollback("fair", actor="monitor", reason="automatic rollback: live accuracy worse")
    shown = run(cli, ["--config", str(config), "models", "show", "fair"], env=wide)
    assert shown.exit_code == 0, shown.output
    assert "recent retrain jobs of fair" in shown.output and "quarterly refresh" in shown.output
    assert "rollbacks of fair" in shown.output and "automatic rollback" in shown.output
    both = run(cli, ["--config", str(config), "retrain", "--job-id", "1", "--reason", "x"])
    assert both.exit_code == 2 and "--reason is for a manual retrain" in both.output
