"""How far the drift monitor got in each version's logged inputs: table ``drift_cursors``.

The cursor lives in the state database, beside the input log it points into, so any
monitor of the model resumes where the last one stopped: the same process restarted,
or a standby on another machine that took the lease over (``monitoring/leader.py``).

Example::

    cursors = DriftCursors(db)
    cursors.save("fair", "v3", after_id=1200, windows=4, streak=1)
    cursors.get("fair", "v3")     # {"after_id": 1200, "windows": 4, "streak": 1}
"""

from __future__ import annotations

import time

from trainsmart.state.db import Database


class DriftCursors:
    """One row per (model, version): the last input-log id in a checked window, the number
    of windows checked and the streak of drifted ones at the end."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, model: str, version: str) -> dict[str, int] | None:
        row = (
            self.db.connection()
            .execute(
                "SELECT after_id, windows, streak FROM drift_cursors"
                " WHERE model = ? AND version = ?",
                (model, version),
            )
            .fetchone()
        )
        if row is None:
            return None
        return {"after_id": int(row[0]), "windows": int(row[1]), "streak": int(row[2])}

    def save(self, model: str, version: str, *, after_id: int, windows: int, streak: int) -> None:
        """Record the cursor of ``model``/``version`` (replacing the previous one)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO drift_cursors (model, version, after_id, windows, streak, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (model, version) DO UPDATE SET"
                " after_id = excluded.after_id, windows = excluded.windows,"
                " streak = excluded.streak, updated_at = excluded.updated_at",
                (model, version, after_id, windows, streak, time.time()),
            )
