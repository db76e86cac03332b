"""Alembic environment: migrations run on the connection :func:`trainsmart.state.migrate.upgrade`
passes in (``config.attributes["connection"]``), or on ``sqlalchemy.url`` from alembic.ini
when a maintainer runs the ``alembic`` command itself."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as own:
        context.configure(connection=own, render_as_batch=own.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
