"""The candidate's shadow predictions, stored beside the champion's logged ones.

In shadow mode the service mirrors each production request's rows to the candidate
(``serving/shadow.py``); what the candidate answered is written here under the same
``(request_id, row_index)`` as the row in the ``inputs`` table, so the two models can
be compared on the same traffic: ``ShadowLog.compare`` joins them.

Example::

    shadow = ShadowLog(open_database(settings))
    pairs = shadow.compare("fair", limit=1000)
    agreement(pairs)          # 0.97: share of rows where both chose the same class
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainsmart.state.db import Database


@dataclass(frozen=True)
class ShadowPair:
    """One served row: what production answered and what the shadow candidate would have."""

    request_id: str
    row_index: int
    ts: float
    champion_version: str
    candidate_version: str
    champion: dict[str, Any]
    candidate: dict[str, Any]

    @property
    def agree(self) -> bool | None:
        """Same class (classification); None for regression, see ``difference``."""
        if "class" not in self.champion or "class" not in self.candidate:
            return None
        return bool(self.champion["class"] == self.candidate["class"])

    @property
    def difference(self) -> float | None:
        """Candidate value minus champion value (regression); None for classification."""
        if "value" not in self.champion or "value" not in self.candidate:
            return None
        return float(self.candidate["value"]) - float(self.champion["value"])


def agreement(pairs: Sequence[ShadowPair]) -> float | None:
    """Share of classified rows where champion and candidate chose the same class
    (None when no pair has classes to compare)."""
    verdicts = [p.agree for p in pairs if p.agree is not None]
    return sum(verdicts) / len(verdicts) if verdicts else None


class ShadowLog:
    """Append-only table ``shadow``: request_id, row_index, model, version, prediction, ts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(
        self,
        request_id: str,
        model: str,
        version: str,
        predictions: Sequence[dict[str, Any]],
        ts: float | None = None,
    ) -> None:
        """Write the candidate's predictions of one request's rows, in row order, in one
        transaction. Raises the database's ``Error`` as it is: the mirror counts and logs it."""
        now = time.time() if ts is None else ts
        records = [
            (request_id, i, now, model, version, json.dumps(pred))
            for i, pred in enumerate(predictions)
        ]
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO shadow (request_id, row_index, ts, model, version, prediction)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (request_id, row_index, version)"
                " DO UPDATE SET ts = excluded.ts, model = excluded.model,"
                " prediction = excluded.prediction",
                records,
            )

    def count(self, model: str | None = None, version: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM shadow WHERE 1=1", list[str]()
        if model is not None:
            sql, args = sql + " AND model = ?", [*args, model]
        if version is not None:
            sql, args = sql + " AND version = ?", [*args, version]
        return int(self.db.connection().execute(sql, args).fetchone()[0])

    def compare(
        self, model: str, limit: int = 1000, version: str | None = None
    ) -> list[ShadowPair]:
        """The ``limit`` most recent shadowed rows of ``model`` (of one candidate
        ``version`` if given) with the champion's logged prediction, oldest first."""
        sql = (
            "SELECT s.request_id, s.row_index, i.ts, i.version AS champion_version,"
            " s.version AS candidate_version, i.prediction AS champion,"
            " s.prediction AS candidate FROM shadow s JOIN inputs i"
            " ON i.request_id = s.request_id AND i.row_index = s.row_index"
            " WHERE s.model = ?"
        )
        args: list[Any] = [model]
        if version is not None:
            sql, args = sql + " AND s.version = ?", [*args, version]
        records = self.db.connection().execute(sql + " ORDER BY s.id DESC LIMIT ?", (*args, limit))
        pairs = [
            ShadowPair(
                request_id=r["request_id"],
                row_index=r["row_index"],
                ts=r["ts"],
                champion_version=r["champion_version"],
                candidate_version=r["candidate_version"],
                champion=json.loads(r["champion"]),
                candidate=json.loads(r["candidate"]),
            )
            for r in records
        ]
        return pairs[::-1]
