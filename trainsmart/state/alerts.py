"""Alertmanager alerts that already started a retrain, so a re-delivery starts none.

Alertmanager re-sends a firing group (every ``repeat_interval``, after a restart, after
a failed delivery); each alert of a group is one episode of a condition, named by its
``fingerprint`` and ``startsAt``. An episode that started a job is kept here, durably:
a later delivery of the same group whose firing alerts are all kept is a duplicate.

Example::

    ledger = AlertLedger(db)
    keys = [AlertKey("{}:{alertname=...}", "3f2a...", "2024-05-01T10:00:00Z")]
    ledger.unseen(keys)           # the keys that never started a job
    ledger.record(keys, job_id=7)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from trainsmart.state.db import Database


@dataclass(frozen=True)
class AlertKey:
    """One firing episode of one alert in one Alertmanager group."""

    group_key: str
    fingerprint: str
    starts_at: str


class AlertLedger:
    """Table ``webhook_alerts``: (group key, fingerprint, startsAt) -> the job it started."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def unseen(self, keys: Sequence[AlertKey]) -> list[AlertKey]:
        """The keys not recorded yet, in the order given."""
        conn = self.db.connection()
        return [
            k
            for k in keys
            if conn.execute(
                "SELECT 1 FROM webhook_alerts WHERE group_key = ? AND fingerprint = ?"
                " AND starts_at = ?",
                (k.group_key, k.fingerprint, k.starts_at),
            ).fetchone()
            is None
        ]

    def record(self, keys: Sequence[AlertKey], job_id: int) -> None:
        """Remember that ``keys`` started ``job_id`` (a key already kept keeps its job)."""
        now = time.time()
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO webhook_alerts"
                " (group_key, fingerprint, starts_at, received_at, job_id)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(k.group_key, k.fingerprint, k.starts_at, now, job_id) for k in keys],
            )

    def job_of(self, key: AlertKey) -> int | None:
        """The job ``key`` started (None: it started none)."""
        row = (
            self.db.connection()
            .execute(
                "SELECT job_id FROM webhook_alerts WHERE group_key = ? AND fingerprint = ?"
                " AND starts_at = ?",
                (key.group_key, key.fingerprint, key.starts_at),
            )
            .fetchone()
        )
        return None if row is None else int(row[0])
