"""Evidently HTML reports of checked windows, kept on disk (the newest N per model).

Files: ``<data_dir>/monitoring/reports/<model>/<version>-w<window>.html``, written
atomically (temporary file, then rename) so a reader never sees half a report.
The monitor writes one when a window drifts (or for every window with
``monitoring.report_every_window``); ``GET /report`` serves the newest and
``trainsmart monitor report`` prints where they are.

Example::

    store = ReportStore(scope.paths.monitoring / "reports", "fair", keep=20)
    path = store.save("v3", 12, detector)     # after detector.report(window)
    store.latest()                            # the same path
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from trainsmart.names import check_name

if TYPE_CHECKING:
    from monitoring.drift.detector import DriftDetector

_NAME = re.compile(r"^(v\d+)-w(\d+)\.html$")


class ReportStore:
    """The newest ``keep`` HTML reports of one model."""

    def __init__(self, root: Path, model: str, keep: int) -> None:
        self.folder = Path(root) / check_name(model, "model")
        self.keep = keep

    def save(self, version: str, window: int, detector: DriftDetector) -> Path:
        """Write the detector's last full report as this window's page; prune old ones."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{check_name(version, 'version')}-w{window}.html"
        partial = path.with_suffix(".html.partial")
        detector.save_html(partial)
        os.replace(partial, path)
        for old in self.all()[self.keep :]:
            old.unlink(missing_ok=True)
        return path

    def all(self) -> list[Path]:
        """Report files, newest first."""
        if not self.folder.is_dir():
            return []
        files = [p for p in self.folder.iterdir() if _NAME.match(p.name)]
        return sorted(files, key=lambda p: p.stat().st_mtime_ns, reverse=True)

    def latest(self) -> Path | None:
        files = self.all()
        return files[0] if files else None
