"""The durable log of every served row (cache hits included) and its feedback labels."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainsmart.errors import RequestNotFound, StateUnavailable
from trainsmart.state.db import Database


@dataclass(frozen=True)
class LoggedRow:
    """One served row as the monitor and retraining read it back."""

    id: int
    request_id: str
    row_index: int
    ts: float
    model: str
    version: str
    features: dict[str, Any]
    prediction: dict[str, Any]
    cache_hit: bool
    label: str | None = None


@dataclass(frozen=True)
class Entry:
    """The rows of one request, as :meth:`InputLog.append` takes them."""

    request_id: str
    model: str
    version: str
    rows: Sequence[dict[str, Any]]
    predictions: Sequence[dict[str, Any]]
    cache_hits: Sequence[bool]


def _row(record: Any) -> LoggedRow:
    keys = record.keys()
    return LoggedRow(
        id=record["id"],
        request_id=record["request_id"],
        row_index=record["row_index"],
        ts=record["ts"],
        model=record["model"],
        version=record["version"],
        features=json.loads(record["features"]),
        prediction=json.loads(record["prediction"]),
        cache_hit=bool(record["cache_hit"]),
        label=record["label"] if "label" in keys else None,
    )


class InputLog:
    """Append-only input log in the shared state database.

    Example::

        log = InputLog(open_database(settings))
        log.append("req-1", "fair", "v1", [{"age": 30.0}], [{"class": "0"}], [False])
        log.add_feedback("req-1", "1")
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(
        self,
        request_id: str,
        model: str,
        version: str,
        rows: Sequence[dict[str, Any]],
        predictions: Sequence[dict[str, Any]],
        cache_hits: Sequence[bool],
        ts: float | None = None,
    ) -> None:
        """Write every row of one request in one transaction (all or nothing).

        ``ts`` (default: now, read once the transaction has its connection, so that it is
        within milliseconds of the row's id) orders rows in time for the monitor."""
        self.append_many([Entry(request_id, model, version, rows, predictions, cache_hits)], ts)

    def append_many(self, entries: Sequence[Entry], ts: float | None = None) -> None:
        """Write every row of several requests in one transaction (all or nothing): a
        group commit (``serving/logwrites.py``)."""
        encoded = [
            (
                entry,
                [
                    (json.dumps(row), json.dumps(pred), int(hit))
                    for row, pred, hit in zip(
                        entry.rows, entry.predictions, entry.cache_hits, strict=True
                    )
                ],
            )
            for entry in entries
        ]
        try:
            with self.db.transaction() as conn:
                now = time.time() if ts is None else ts
                records = [
                    (entry.request_id, i, now, entry.model, entry.version, *values)
                    for entry, rows in encoded
                    for i, values in enumerate(rows)
                ]
                conn.executemany(
                    "INSERT INTO inputs (request_id, row_index, ts, model, version, features,"
                    " prediction, cache_hit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    records,
                )
        except self.db.Error as exc:
            raise StateUnavailable(
                f"the input log at {self.db.where} could not be written ({exc}); the request was "
                "not answered so that no input escapes monitoring; retry, and check that the "
                "state database is up and has free space"
            ) from exc

    def request(self, request_id: str) -> list[LoggedRow]:
        """The logged rows of one request, in order."""
        records = self.db.connection().execute(
            "SELECT * FROM inputs WHERE request_id = ? ORDER BY row_index", (request_id,)
        )
        return [_row(r) for r in records]

    def add_feedback(self, request_id: str, label: str, row_index: int = 0) -> None:
        """Record the ground-truth label of one logged row; a later label replaces it."""
        try:
            self._add_feedback(request_id, label, row_index)
        except self.db.Error as exc:
            raise StateUnavailable(
                f"the feedback label could not be written to {self.db.where} ({exc}); nothing "
                "was recorded, send it again"
            ) from exc

    def _add_feedback(self, request_id: str, label: str, row_index: int) -> None:
        with self.db.transaction() as conn:
            found = conn.execute(
                "SELECT 1 FROM inputs WHERE request_id = ? AND row_index = ?",
                (request_id, row_index),
            ).fetchone()
            if found is None:
                raise RequestNotFound(
                    request_id if row_index == 0 else f"{request_id}[{row_index}]"
                )
            conn.execute(
                "INSERT INTO feedback (request_id, row_index, label, ts) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (request_id, row_index)"
                " DO UPDATE SET label = excluded.label, ts = excluded.ts",
                (request_id, row_index, str(label), time.time()),
            )

    def window(
        self,
        model: str,
        version: str,
        after_id: int,
        limit: int,
        *,
        logged_before: float | None = None,
    ) -> list[LoggedRow]:
        """Up to ``limit`` rows served by ``model``/``version`` with id above ``after_id``
        (and logged before ``logged_before``, when given), in id order."""
        sql = "SELECT * FROM inputs WHERE model = ? AND version = ? AND id > ?"
        args: list[Any] = [model, version, after_id]
        if logged_before is not None:
            sql, args = sql + " AND ts < ?", [*args, logged_before]
        records = self.db.connection().execute(sql + " ORDER BY id LIMIT ?", (*args, limit))
        return [_row(r) for r in records]

    def labelled(self, model: str, limit: int) -> list[LoggedRow]:
        """The ``limit`` most recent rows of ``model`` that have a feedback label, oldest first."""
        records = self.db.connection().execute(
            "SELECT i.*, f.label AS label FROM inputs i JOIN feedback f"
            " ON f.request_id = i.request_id AND f.row_index = i.row_index"
            " WHERE i.model = ? ORDER BY i.id DESC LIMIT ?",
            (model, limit),
        )
        return [_row(r) for r in reversed(list(records))]

    def labelled_version(
        self,
        model: str,
        version: str,
        limit: int,
        *,
        since: float | None = None,
        before: float | None = None,
    ) -> list[LoggedRow]:
        """The ``limit`` most recent labelled rows served by ``model``/``version`` (served at
        or after ``since``, before ``before``, when given), oldest first."""
        sql = (
            "SELECT i.*, f.label AS label FROM inputs i JOIN feedback f"
            " ON f.request_id = i.request_id AND f.row_index = i.row_index"
            " WHERE i.model = ? AND i.version = ?"
        )
        args: list[Any] = [model, version]
        if since is not None:
            sql, args = sql + " AND i.ts >= ?", [*args, since]
        if before is not None:
            sql, args = sql + " AND i.ts < ?", [*args, before]
        records = self.db.connection().execute(sql + " ORDER BY i.id DESC LIMIT ?", (*args, limit))
        return [_row(r) for r in reversed(list(records))]

    def recent(self, model: str, limit: int) -> list[LoggedRow]:
        """The ``limit`` most recent rows of ``model``, oldest first."""
        records = self.db.connection().execute(
            "SELECT * FROM inputs WHERE model = ? ORDER BY id DESC LIMIT ?", (model, limit)
        )
        return [_row(r) for r in reversed(list(records))]

    def count(self, model: str | None = None, version: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM inputs WHERE 1=1", list[str]()
        if model is not None:
            sql, args = sql + " AND model = ?", [*args, model]
        if version is not None:
            sql, args = sql + " AND version = ?", [*args, version]
        return int(self.db.connection().execute(sql, args).fetchone()[0])
