"""Database URLs: the scheme and the SQLite file, parsed in one place."""

from __future__ import annotations

from pathlib import Path


def url_scheme(url: str) -> str:
    """The scheme of a database URL, lower case and without a driver (``postgresql`` of
    ``postgresql+psycopg://...``)."""
    return url.split(":", 1)[0].split("+", 1)[0].lower()


def sqlite_file(url: str) -> Path | None:
    """The file of ``sqlite:///path/file.db`` (None: the URL names none)."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return Path(path) if path else None
