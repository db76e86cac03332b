"""Per-feature drift gauges of the last window, labelled by version and method, and the
importance-weighted drift share (created by :class:`monitoring.metrics.MonitorMetrics`).

Every per-feature series carries ``model``, ``version``, ``feature`` and ``method``: one
series per feature of the production version (a feature has one method). Each window
replaces the previous window's label sets of its model, so when the production version
(or a feature's method) changes, the old series are removed rather than left frozen at
their last value.

Example::

    gauges = FeatureDriftGauges(CollectorRegistry())
    gauges.observe("fair", "v3", result)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from monitoring.drift.importance import severity
from monitoring.drift.results import DriftResult

FEATURE_LABELS = ["model", "version", "feature", "method"]


class FeatureDriftGauges:
    """trainsmart_feature_drift_{score,threshold,severity}, trainsmart_feature_drifted and
    trainsmart_weighted_drift_share."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.score = Gauge(
            "trainsmart_feature_drift_score",
            "Evidently's drift statistic per feature in the last window, by method: a p-value "
            "for p-value tests (K-S, chi-square, Z: lower means more drift), a distance for "
            "the others (PSI, Wasserstein, Jensen-Shannon: higher means more drift). Sort on "
            "trainsmart_feature_drift_severity or trainsmart_feature_drifted instead.",
            FEATURE_LABELS,
            registry=registry,
        )
        self.threshold = Gauge(
            "trainsmart_feature_drift_threshold",
            "The threshold the feature's drift statistic was tested against in the last window.",
            FEATURE_LABELS,
            registry=registry,
        )
        self.severity = Gauge(
            "trainsmart_feature_drift_severity",
            "The feature's drift statistic against its threshold, oriented so that higher "
            "means more drift and 1 is the threshold (threshold/p-value for p-value tests, "
            "distance/threshold for distances; capped at 1000): comparable across methods.",
            FEATURE_LABELS,
            registry=registry,
        )
        self.drifted = Gauge(
            "trainsmart_feature_drifted",
            "1 if Evidently's test found the feature drifted in the last window, else 0.",
            FEATURE_LABELS,
            registry=registry,
        )
        self.weighted_share = Gauge(
            "trainsmart_weighted_drift_share",
            "Importance of the drifted features over the importance of all compared features "
            "in the last window (permutation importance from the version's metrics.json); "
            "absent for versions without importance (older bundles, image models).",
            ["model", "version"],
            registry=registry,
        )
        self._features: dict[str, set[tuple[str, str, str, str]]] = {}
        self._weighted: dict[str, tuple[str, str]] = {}

    def observe(self, model: str, version: str, result: DriftResult) -> None:
        """Set the gauges to ``result`` and drop ``model``'s label sets it no longer has."""
        current: set[tuple[str, str, str, str]] = set()
        for feature, drift in result.features.items():
            labels = (model, version, feature, drift.method)
            current.add(labels)
            self.score.labels(*labels).set(drift.score)
            self.threshold.labels(*labels).set(drift.threshold)
            self.severity.labels(*labels).set(severity(drift))
            self.drifted.labels(*labels).set(1.0 if drift.drifted else 0.0)
        for stale in self._features.get(model, set()) - current:
            for gauge in (self.score, self.threshold, self.severity, self.drifted):
                gauge.remove(*stale)
        self._features[model] = current
        previous = self._weighted.pop(model, None)
        if result.weighted_drift_share is not None:
            self.weighted_share.labels(model, version).set(result.weighted_drift_share)
            self._weighted[model] = (model, version)
        if previous is not None and previous != self._weighted.get(model):
            self.weighted_share.remove(*previous)
