"""Leases: which process leads (one active monitor among several started); the host of a
job's pid (a pid means nothing on another machine); the drift monitor's cursors (where
any monitor of a model resumes, on whichever machine).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # each step only when missing: SQLite runs DDL outside a transaction, so a process
    # killed mid-way leaves part of it done, and the next open finishes it
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "leases" not in tables:
        op.create_table(
            "leases",
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("holder", sa.Text, nullable=False),
            sa.Column("acquired_at", sa.Double(), nullable=False),
            sa.Column("expires_at", sa.Double(), nullable=False),
        )
    if "host" not in {c["name"] for c in inspector.get_columns("jobs")}:
        op.add_column("jobs", sa.Column("host", sa.Text))
    if "drift_cursors" not in tables:
        op.create_table(
            "drift_cursors",
            sa.Column("model", sa.Text, primary_key=True),
            sa.Column("version", sa.Text, primary_key=True),
            sa.Column("after_id", sa.BigInteger, nullable=False),
            sa.Column("windows", sa.Integer, nullable=False),
            sa.Column("streak", sa.Integer, nullable=False),
            sa.Column("updated_at", sa.Double(), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("drift_cursors")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("host")
    op.drop_table("leases")
