"""Baseline: input log, feedback, pointers, audit, candidate, shadow log, jobs, alerts, verdicts.

Revision ID: 0001
Revises: none

A SQLite file made before Alembic (its ``schema_version`` table says 1 to 3) already has
most tables: each is created only when missing, the job columns of schema 3 are added
to an older ``jobs`` table, and ``schema_version`` is dropped (``alembic_version`` takes
its place).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.schema import SchemaItem

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: a rowid alias
TIME: sa.Double[float] = sa.Double()
IN_FLIGHT = "status IN ('queued', 'running')"


def _tables() -> dict[str, tuple[list[SchemaItem], dict[str, object]]]:
    auto: dict[str, object] = {"sqlite_autoincrement": True}
    return {
        "inputs": (
            [
                sa.Column("id", ID, primary_key=True, autoincrement=True),
                sa.Column("request_id", sa.Text, nullable=False),
                sa.Column("row_index", sa.BigInteger, nullable=False),
                sa.Column("ts", TIME, nullable=False),
                sa.Column("model", sa.Text, nullable=False),
                sa.Column("version", sa.Text, nullable=False),
                sa.Column("features", sa.Text, nullable=False),
                sa.Column("prediction", sa.Text, nullable=False),
                sa.Column("cache_hit", sa.Integer, nullable=False),
                sa.UniqueConstraint("request_id", "row_index"),
            ],
            auto,
        ),
        "feedback": (
            [
                sa.Column("request_id", sa.Text, primary_key=True),
                sa.Column("row_index", sa.BigInteger, primary_key=True),
                sa.Column("label", sa.Text, nullable=False),
                sa.Column("ts", TIME, nullable=False),
            ],
            {},
        ),
        "production": (
            [
                sa.Column("model", sa.Text, primary_key=True),
                sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
                sa.Column("version", sa.Text, nullable=False),
            ],
            {},
        ),
        "audit": (
            [
                sa.Column("id", ID, primary_key=True, autoincrement=True),
                sa.Column("ts", TIME, nullable=False),
                sa.Column("model", sa.Text, nullable=False),
                sa.Column("action", sa.Text, nullable=False),
                sa.Column("from_version", sa.Text),
                sa.Column("to_version", sa.Text),
                sa.Column("actor", sa.Text, nullable=False),
                sa.Column("reason", sa.Text, nullable=False),
            ],
            auto,
        ),
        "candidate": (
            [
                sa.Column("model", sa.Text, primary_key=True),
                sa.Column("version", sa.Text, nullable=False),
                sa.Column("shadow", sa.Integer, nullable=False),
                sa.Column("set_at", TIME, nullable=False),
            ],
            {},
        ),
        "shadow": (
            [
                sa.Column("id", ID, primary_key=True, autoincrement=True),
                sa.Column("request_id", sa.Text, nullable=False),
                sa.Column("row_index", sa.BigInteger, nullable=False),
                sa.Column("ts", TIME, nullable=False),
                sa.Column("model", sa.Text, nullable=False),
                sa.Column("version", sa.Text, nullable=False),
                sa.Column("prediction", sa.Text, nullable=False),
                sa.UniqueConstraint("request_id", "row_index", "version"),
            ],
            auto,
        ),
        "jobs": (
            [
                sa.Column("id", ID, primary_key=True, autoincrement=True),
                sa.Column("model", sa.Text, nullable=False),
                sa.Column("status", sa.Text, nullable=False),
                sa.Column("reason", sa.Text, nullable=False),
                sa.Column("created_at", TIME, nullable=False),
                sa.Column("started_at", TIME),
                sa.Column("finished_at", TIME),
                sa.Column("pid", sa.Integer),
                sa.Column("log_path", sa.Text),
                sa.Column("result", sa.Text),
                *_job_columns(),
            ],
            auto,
        ),
        "webhook_alerts": (
            [
                sa.Column("group_key", sa.Text, primary_key=True),
                sa.Column("fingerprint", sa.Text, primary_key=True),
                sa.Column("starts_at", sa.Text, primary_key=True),
                sa.Column("received_at", TIME, nullable=False),
                sa.Column("job_id", sa.BigInteger, nullable=False),
            ],
            {},
        ),
        "promotion_checks": (
            [
                sa.Column("audit_id", sa.BigInteger, primary_key=True, autoincrement=False),
                sa.Column("model", sa.Text, nullable=False),
                sa.Column("version", sa.Text, nullable=False),
                sa.Column("previous", sa.Text, nullable=False),
                sa.Column("verdict", sa.Text, nullable=False),
                sa.Column("reason", sa.Text, nullable=False),
                sa.Column("ts", TIME, nullable=False),
            ],
            {},
        ),
    }


def _job_columns() -> list[sa.Column[object]]:
    """Added to ``jobs`` by schema 3 (pre-Alembic)."""
    return [
        sa.Column("trigger", sa.Text, nullable=False, server_default="drift"),
        sa.Column("actor", sa.Text, nullable=False, server_default="monitor"),
        sa.Column("champion_version", sa.Text),
        sa.Column("version", sa.Text),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for name, (columns, options) in _tables().items():
        if name not in present:
            op.create_table(name, *columns, **options)  # type: ignore[arg-type]
    if "jobs" in present:
        _adopt_old_jobs(inspector)
    indexes: dict[tuple[str, str], tuple[list[str], dict[str, Any]]] = {
        ("inputs", "inputs_model_version"): (["model", "version", "id"], {}),
        ("shadow", "shadow_model_version"): (["model", "version", "id"], {}),
        ("jobs", "jobs_one_in_flight"): (
            ["model"],
            {
                "unique": True,
                "sqlite_where": sa.text(IN_FLIGHT),
                "postgresql_where": sa.text(IN_FLIGHT),
            },
        ),
    }
    for (table, index), (names, options) in indexes.items():
        if index not in {i["name"] for i in inspector.get_indexes(table)}:
            op.create_index(index, table, names, **options)  # type: ignore[arg-type]
    if "schema_version" in present:
        op.drop_table("schema_version")


def _adopt_old_jobs(inspector: sa.Inspector) -> None:
    present = {c["name"] for c in inspector.get_columns("jobs")}
    missing = [c for c in _job_columns() if c.name not in present]
    for column in missing:
        op.add_column("jobs", column)
    if any(c.name == "trigger" for c in missing):  # a manual job's reason says so
        op.execute(
            "UPDATE jobs SET trigger = 'manual', actor = 'unknown' WHERE reason LIKE 'manual%'"
        )


def downgrade() -> None:
    for name in reversed(list(_tables())):
        op.drop_table(name)
