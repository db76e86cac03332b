"""Gauges of the label-free performance estimate, on the monitor's registry.

One series per (model, version, metric), metric ``accuracy`` or ``roc_auc``:

- ``trainsmart_estimated_metric``: the last window's estimate (CBPE, ``cbpe.py``);
- ``trainsmart_estimated_metric_lower`` / ``trainsmart_estimated_metric_upper``: its band;
- ``trainsmart_estimated_metric_threshold``: below it the window counts as estimated harm
  (the version's test metric minus ``monitoring.estimated_drop``).

Example::

    metrics = EstimateMetrics(CollectorRegistry())
    metrics.set("fair-affairs", "v1", estimate, threshold=0.868)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from monitoring.estimate.cbpe import Estimate

LABELS = ["model", "version", "metric"]


class EstimateMetrics:
    """The four gauges above."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.value = Gauge(
            "trainsmart_estimated_metric",
            "The last window's metric estimated without labels from the calibrated "
            "probabilities (CBPE): accuracy or roc_auc.",
            LABELS,
            registry=registry,
        )
        self.lower = Gauge(
            "trainsmart_estimated_metric_lower",
            "Lower end of the estimate's 95% band (accuracy: Bernoulli variance of the "
            "outcomes; roc_auc: Monte Carlo over labels drawn from the probabilities).",
            LABELS,
            registry=registry,
        )
        self.upper = Gauge(
            "trainsmart_estimated_metric_upper",
            "Upper end of the estimate's 95% band.",
            LABELS,
            registry=registry,
        )
        self.threshold = Gauge(
            "trainsmart_estimated_metric_threshold",
            "The version's test metric minus monitoring.estimated_drop: an estimate below it "
            "counts as estimated harm.",
            LABELS,
            registry=registry,
        )

    def set(self, model: str, version: str, estimate: Estimate, threshold: float | None) -> None:
        """Export one window's ``estimate`` (and the harm threshold, when known)."""
        labels = (model, version, estimate.metric)
        self._forget_other_versions(model, version)
        self.value.labels(*labels).set(estimate.value)
        self.lower.labels(*labels).set(estimate.lower)
        self.upper.labels(*labels).set(estimate.upper)
        if threshold is not None:
            self.threshold.labels(*labels).set(threshold)

    def _forget_other_versions(self, model: str, version: str) -> None:
        """Remove ``model``'s series of earlier versions: after a promotion the board shows
        the serving version's estimate only, like the drift gauges."""
        for gauge in (self.value, self.lower, self.upper, self.threshold):
            stale = [
                labels
                for labels in list(gauge._metrics)  # prometheus_client has no public listing
                if labels[0] == model and labels[1] != version
            ]
            for labels in stale:
                gauge.remove(*labels)
