"""Everything one window is checked for: data drift (the fast path), its importance-weighted
share, data quality, prediction drift, and the full Evidently report when it drifts.

Example::

    check = WindowCheck(detector, bundle, ReportStore(...), scope.monitoring)
    result = check.run("v3", 12, logged_rows)     # a DriftResult with quality and prediction
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from monitoring.drift.frames import contract_frame
from monitoring.drift.importance import FeatureImportance
from monitoring.drift.prediction import PredictionReference
from monitoring.drift.quality import data_quality
from monitoring.drift.results import DriftResult

if TYPE_CHECKING:
    from monitoring.drift.detector import DriftDetector
    from monitoring.records.reports import ReportStore
    from monitoring.settings import MonitoringSettings
    from trainsmart.registry.bundle import Bundle

log = logging.getLogger(__name__)


class WindowCheck:
    """Checks windows of one version against its bundle (reference loaded once)."""

    def __init__(
        self,
        detector: DriftDetector,
        bundle: Bundle,
        reports: ReportStore,
        config: MonitoringSettings,
    ) -> None:
        self.detector = detector
        self.contract = detector.contract
        self.reports = reports
        self.config = config
        self.predictions: PredictionReference | None
        try:
            self.predictions = PredictionReference.from_bundle(bundle)
        except Exception as exc:  # an unreadable reference must not stop data drift
            log.warning(
                "%s:%s: no prediction drift (the reference predictions failed: %s)",
                bundle.name,
                bundle.version,
                exc,
            )
            self.predictions = None
        self.importance = _importance(bundle)

    def run(self, version: str, window: int, rows: list[Any]) -> DriftResult:
        frame = contract_frame(self.contract, [r.features for r in rows])
        result = self.detector.run(frame)
        prediction = (
            None
            if self.predictions is None
            else self.predictions.compare([r.prediction for r in rows], self.detector.options)
        )
        result = dataclasses.replace(
            result,
            quality=data_quality(self.contract, frame),
            prediction=prediction,
            weighted_drift_share=(
                None if self.importance is None else self.importance.weighted_share(result.features)
            ),
        )
        if result.dataset_drift or self.config.report_every_window:
            self._report(version, window, frame, result)
        return result

    def _report(self, version: str, window: int, frame: Any, fast: DriftResult) -> None:
        """Build and keep the full Evidently report; a failure only costs the page."""
        try:
            full = self.detector.report(frame)
            path = self.reports.save(version, window, self.detector)
        except Exception as exc:
            log.warning("window %d of %s: the HTML report failed: %s", window, version, exc)
            return
        if full.dataset_drift != fast.dataset_drift:  # the two paths must agree
            log.error(
                "window %d of %s: the report says dataset drift %s, the fast path %s",
                window,
                version,
                full.dataset_drift,
                fast.dataset_drift,
            )
        log.info("window %d of %s: Evidently report at %s", window, version, path)


def _importance(bundle: Bundle) -> FeatureImportance | None:
    """The version's feature importance, or None (logged once per version)."""
    try:
        importance = FeatureImportance.from_metrics(bundle.metrics())
    except Exception as exc:  # an unreadable metrics.json must not stop data drift
        log.warning("%s:%s: metrics.json unreadable (%s)", bundle.name, bundle.version, exc)
        importance = None
    if importance is None:
        log.info(
            "%s:%s: no feature importance in metrics.json (a version trained before it, or "
            "an image model): the importance-weighted drift share is not exported",
            bundle.name,
            bundle.version,
        )
    return importance
