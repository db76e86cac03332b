"""Open the state database that the settings (or a URL) name."""

from __future__ import annotations

from typing import Any

from trainsmart.errors import ConfigError, redact
from trainsmart.settings.core import CoreSettings
from trainsmart.settings.urls import sqlite_file, url_scheme
from trainsmart.state.db import Database
from trainsmart.state.sqlite import SqliteDatabase


def open_url(url: str, **options: Any) -> Database:
    """The database at ``url``: ``sqlite:///path/to/file.db`` or ``postgresql://...``."""
    scheme = url_scheme(url)
    if scheme == "sqlite":
        path = sqlite_file(url)
        if path is None:
            raise ConfigError(f"database_url {url!r} names no file; use sqlite:///path/file.db")
        return SqliteDatabase(path, **options)
    if scheme in ("postgresql", "postgres"):
        # lazy: psycopg is the optional `postgres` extra
        from trainsmart.state.postgres import PostgresDatabase

        return PostgresDatabase(url, **options)
    raise ConfigError(
        f"database_url {redact(url)!r} is neither sqlite:/// nor postgresql://; set one of them"
    )


def open_database(settings: CoreSettings) -> Database:
    """The database ``settings`` name: ``database_url``, else SQLite under ``data_dir``."""
    if settings.database_url is None:
        return SqliteDatabase(settings.paths.state_db)
    options: dict[str, Any] = {}
    url = settings.database_url.get_secret_value()
    if url_scheme(url) != "sqlite":
        options["pool_size"] = settings.database_pool_size
    return open_url(url, **options)
