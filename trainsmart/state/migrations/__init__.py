"""Alembic migrations of the state database (run by :mod:`trainsmart.state.migrate`)."""
