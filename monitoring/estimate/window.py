"""Each window's performance, estimated without labels, for the production version.

The probabilities are the ones the service logged with each row it answered (the
``probabilities`` of the prediction, cache hits included: the cache holds the same
answer), calibrated with the version's ``calibration.json`` and passed to CBPE
(``cbpe.py``). A bundle without calibration (registered before it, or a regression model)
gets no estimate: logged once per version, and the window's record says so.

The threshold per metric is the version's test metric (``metrics.json["serving"]``,
the variant served) minus ``monitoring.estimated_drop``.

Example::

    estimator = WindowEstimator("fair-affairs", EstimateMetrics(registry), scope.monitoring)
    estimator.switch(bundle)                  # once per production version
    found = estimator.run(window_rows)        # a WindowEstimate, or None
    found.estimate("accuracy").value, found.threshold["accuracy"]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from monitoring.estimate.cbpe import METRICS, Estimate, estimate
from trainsmart.registry.calibration import Calibration

if TYPE_CHECKING:
    from monitoring.estimate.metrics import EstimateMetrics
    from monitoring.settings import MonitoringSettings
    from trainsmart.registry.bundle import Bundle

log = logging.getLogger(__name__)
MIN_ROWS = 10
"""Fewer rows with logged probabilities and the window gets no estimate."""


@dataclass(frozen=True)
class WindowEstimate:
    """A window's estimated metrics and what they are compared with."""

    estimates: list[Estimate]
    calibration: str
    """The calibration method applied (isotonic, temperature, none)."""
    test: dict[str, float] = field(default_factory=dict)
    """The version's test metric per estimated metric (missing when metrics.json lacks it)."""
    threshold: dict[str, float] = field(default_factory=dict)
    """test - monitoring.estimated_drop, per metric."""

    def estimate(self, metric: str) -> Estimate | None:
        return next((e for e in self.estimates if e.metric == metric), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration,
            "metrics": {e.metric: e.to_dict() for e in self.estimates},
            "test": self.test,
            "threshold": self.threshold,
        }


class WindowEstimator:
    """Estimates the production version's windows; exports the gauges."""

    def __init__(self, model: str, metrics: EstimateMetrics, config: MonitoringSettings) -> None:
        self.model = model
        self.metrics = metrics
        self.drop = config.estimated_drop
        self.version: str | None = None
        self.classes: list[str] = []
        self.calibration: Calibration | None = None
        self.test: dict[str, float] = {}

    def switch(self, bundle: Bundle) -> None:
        """Read ``bundle``'s calibration and test metrics; never raises."""
        self.version, self.calibration, self.test = bundle.version, None, {}
        try:
            self.classes = list(bundle.contract().classes)
            self.calibration = Calibration.from_bundle(bundle)
            served = bundle.metrics().get("serving", {})
            self.test = {m: float(served[m]) for m in METRICS if m in served}
        except Exception as exc:  # an unreadable file costs the estimate, never the window
            log.warning("%s: no performance estimate (%s)", bundle, exc)
            self.calibration = None
            return
        if self.calibration is None:
            log.info(
                "%s:%s has no calibration.json (registered before calibration, or a "
                "regression model): no performance estimate for its windows",
                bundle.name,
                bundle.version,
            )

    def run(self, rows: list[Any]) -> WindowEstimate | None:
        """The window's estimate (None: no calibration, or too few logged probabilities);
        never raises."""
        if self.calibration is None or self.version is None:
            return None
        try:
            found = self._estimate(rows)
        except Exception:
            log.exception("%s:%s: the performance estimate failed", self.model, self.version)
            return None
        if found is not None:
            for one in found.estimates:
                if np.isfinite(one.value):
                    self.metrics.set(self.model, self.version, one, found.threshold.get(one.metric))
        return found

    def _estimate(self, rows: list[Any]) -> WindowEstimate | None:
        assert self.calibration is not None
        matrix = probability_matrix([r.prediction for r in rows], self.classes)
        if len(matrix) < MIN_ROWS:
            return None
        return WindowEstimate(
            estimate(matrix, self.calibration),
            self.calibration.method,
            dict(self.test),
            {m: v - self.drop for m, v in self.test.items()},
        )


def probability_matrix(predictions: list[dict[str, Any]], classes: list[str]) -> np.ndarray:
    """Rows x classes of the logged probabilities (rows without all of them left out)."""
    rows = []
    for prediction in predictions:
        probabilities = prediction.get("probabilities")
        if isinstance(probabilities, dict) and all(c in probabilities for c in classes):
            rows.append([float(probabilities[c]) for c in classes])
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(classes))
