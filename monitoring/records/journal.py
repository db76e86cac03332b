"""The monitor's record of its windows: the drift journal and the cursor per version.

    data_dir/monitoring/<model>.drift.jsonl   one JSON line per checked window (append-only,
                                              :meth:`WindowResult.to_dict` and the
                                              ``streak`` after it)
    table drift_cursors (state database)      per version: last row id checked, windows, streak

The cursor is saved after each window, in the state database beside the input log it
points into, so a restarted monitor (or a standby on another machine that took over the
lease) resumes after the last window finished and never re-checks it. A monitor killed
between a window's journal line and its cursor leaves a line the cursor does not count:
the next one on this ``data_dir`` adopts that line (:meth:`DriftJournal.resume`) rather
than check and journal the window twice. A rolled-back version resumes where it was
left. A ``<model>.state.json`` file written by an older release is read for a version the
database has no cursor of yet (then the database takes over).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from monitoring.drift.results import DriftResult
from monitoring.errors import MonitoringError
from trainsmart.state.cursors import DriftCursors

log = logging.getLogger(__name__)
TAIL_BYTES = 256 * 1024
"""How much of the journal's end :meth:`DriftJournal.last` reads (a line is a few KiB)."""


@dataclass(frozen=True)
class WindowResult:
    """One checked window and what the monitor did about it."""

    model: str
    version: str
    index: int
    """Window number within the version (0, 1, ...)."""
    first_id: int
    last_id: int
    first_ts: float
    last_ts: float
    checked_at: float
    drift: DriftResult
    job_id: int | None = None
    """The retrain job this window triggered, if any."""
    retrain: str | None = None
    """When the window met the drift rule: why a job was queued, or why not (cooldown,
    a job in flight, "waiting for labels", retrain_enabled off)."""
    estimate: dict[str, Any] | None = None
    """The performance estimated without labels (monitoring/estimate/window.py), if any."""
    decision: str | None = None
    """Why this window did or did not count towards a retrain (monitoring/retrain/harm.py)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "window": self.index,
            "first_id": self.first_id,
            "last_id": self.last_id,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "ts": self.checked_at,
            "result": self.drift.to_dict(),
            "job_id": self.job_id,
            "retrain": self.retrain,
            "estimate": self.estimate,
            "decision": self.decision,
        }


@dataclass
class VersionCursor:
    """How far the monitor got in the logged inputs of one version."""

    after_id: int = 0
    """Id of the last input-log row in a checked window (0: none yet)."""
    windows: int = 0
    """Windows of this version checked so far (the next window's index)."""
    streak: int = 0
    """Consecutive drifted windows at the end (the retrain policy's count)."""


class DriftJournal:
    """The drift journal and cursor state of one model."""

    def __init__(self, folder: Path, model: str, cursors: DriftCursors) -> None:
        self.folder = Path(folder)
        self.model = model
        self.cursors = cursors
        self.journal_path = self.folder / f"{model}.drift.jsonl"
        self.state_path = self.folder / f"{model}.state.json"

    def append(self, record: dict[str, Any]) -> None:
        """Add one window's line to the journal."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.journal_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True, default=str) + "\n")

    def records(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Journal lines, oldest first (the last ``limit`` when given)."""
        if not self.journal_path.is_file():
            return []
        lines = self.journal_path.read_text(encoding="utf-8").splitlines()
        chosen = lines if limit is None else lines[-limit:]
        return [json.loads(line) for line in chosen if line.strip()]

    def last(self) -> dict[str, Any] | None:
        """The journal's last complete line (None: no journal, or a line cut short)."""
        if not self.journal_path.is_file():
            return None
        with self.journal_path.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - TAIL_BYTES))
            lines = fh.read().splitlines()
        try:
            record = json.loads(lines[-1]) if lines else None
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def resume(self, version: str) -> VersionCursor:
        """Where checking ``version`` resumes: its saved cursor, moved past a window this
        journal recorded after it (the monitor was killed before saving the cursor)."""
        cursor = self.cursor(version)
        last = self.last()
        if (
            last is None
            or last.get("version") != version
            or last.get("window") != cursor.windows
            or "streak" not in last  # a line of an older release: check the window again
            or int(last.get("first_id", 0)) <= cursor.after_id
        ):
            return cursor
        adopted = VersionCursor(int(last["last_id"]), cursor.windows + 1, int(last["streak"]))
        self.save(version, adopted)
        log.warning(
            "%s:%s window %d (input-log rows %s-%s) was journaled but its cursor not saved "
            "(the last monitor stopped in between): counted as checked",
            self.model,
            version,
            cursor.windows,
            last["first_id"],
            last["last_id"],
        )
        return adopted

    def cursor(self, version: str) -> VersionCursor:
        """Where checking ``version`` resumes (a fresh cursor for a version never seen)."""
        entry = self.cursors.get(self.model, version) or self._old_state().get(version)
        return VersionCursor(**entry) if entry else VersionCursor()

    def save(self, version: str, cursor: VersionCursor) -> None:
        """Record ``cursor`` for ``version`` in the state database."""
        self.cursors.save(self.model, version, **asdict(cursor))

    def _old_state(self) -> dict[str, dict[str, int]]:
        """The cursors an older release kept in ``<model>.state.json`` (none: {})."""
        if not self.state_path.is_file():
            return {}
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise MonitoringError(
                f"monitor state {self.state_path} is not valid JSON ({exc}); delete it to "
                "re-check every logged window from the start"
            ) from exc
        if not isinstance(data, dict):
            raise MonitoringError(
                f"monitor state {self.state_path} is not a JSON object; delete it to "
                "re-check every logged window from the start"
            )
        return data
