"""What the monitor writes under ``data_dir/monitoring/``: the drift journal and its cursor.

    <model>.drift.jsonl   one JSON line per checked window (append-only)
    <model>.state.json    per production version: last row id checked, windows, streak

The state file is replaced atomically after each window, so a restarted
monitor resumes after the last window it finished and never re-checks it.
A rolled-back version resumes where it was left.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from monitoring.errors import MonitoringError


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

    def __init__(self, folder: Path, model: str) -> None:
        self.folder = Path(folder)
        self.model = model
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

    def cursor(self, version: str) -> VersionCursor:
        """Where checking ``version`` resumes (a fresh cursor for a version never seen)."""
        entry = self._state().get(version)
        return VersionCursor(**entry) if entry else VersionCursor()

    def save(self, version: str, cursor: VersionCursor) -> None:
        """Record ``cursor`` for ``version`` (write to a temporary file, then rename)."""
        state = self._state()
        state[version] = asdict(cursor)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def _state(self) -> dict[str, dict[str, int]]:
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
