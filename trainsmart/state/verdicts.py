"""The monitor's verdict on each promotion: kept, or rolled back. One per promotion, ever.

After a promotion the monitor waits until the new champion has enough labelled live
rows, then compares it with the version it replaced once (``monitoring/judge/rollback.py``).
The verdict is keyed by the promotion's audit row, so a restarted monitor never judges,
nor rolls back, the same promotion twice; promoting the version again is a new promotion.

Example::

    checks = PromotionChecks(db)
    checks.get(audit_id)          # None: not judged yet
    checks.record(Verdict(audit_id, "fair", "v2", "v1", "rolled-back", "accuracy ...", t))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from trainsmart.state.db import Database, Row

Outcome = Literal["kept", "rolled-back", "no-baseline"]


@dataclass(frozen=True)
class Verdict:
    audit_id: int
    """The audit row of the promotion judged."""
    model: str
    version: str
    """The version that promotion put in production."""
    previous: str
    """The version it replaced."""
    verdict: Outcome
    reason: str
    ts: float = field(default_factory=time.time)


def _verdict(r: Row) -> Verdict:
    return Verdict(
        r["audit_id"], r["model"], r["version"], r["previous"], r["verdict"], r["reason"], r["ts"]
    )


class PromotionChecks:
    """Table ``promotion_checks``: one verdict per promotion audit row."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, audit_id: int) -> Verdict | None:
        row = (
            self.db.connection()
            .execute("SELECT * FROM promotion_checks WHERE audit_id = ?", (audit_id,))
            .fetchone()
        )
        return None if row is None else _verdict(row)

    def record(self, verdict: Verdict) -> bool:
        """Store ``verdict``; False if that promotion already had one (which is kept)."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO promotion_checks"
                " (audit_id, model, version, previous, verdict, reason, ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    verdict.audit_id,
                    verdict.model,
                    verdict.version,
                    verdict.previous,
                    verdict.verdict,
                    verdict.reason,
                    verdict.ts,
                ),
            )
        return cur.rowcount == 1

    def list(self, model: str, limit: int = 20) -> list[Verdict]:
        """Verdicts of ``model``, newest first."""
        rows = self.db.connection().execute(
            "SELECT * FROM promotion_checks WHERE model = ? ORDER BY audit_id DESC LIMIT ?",
            (model, limit),
        )
        return [_verdict(r) for r in rows]
