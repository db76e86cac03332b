"""Drift weighted by what the model uses, and drift statistics put on one scale.

Evidently's per-feature statistics point two ways: p-value tests (K-S, chi-square, Z...)
drift when the score falls *below* the threshold, distances (PSI, Wasserstein,
Jensen-Shannon...) when it rises *above* it. :func:`severity` orients them alike: the
statistic against its threshold, 1 at the threshold, higher meaning more drift, so
features with different methods sort together.

The importance-weighted drift share is the importance of the drifted features over the
importance of every compared feature. Importance comes from the bundle's ``metrics.json``
key ``"importance"`` (written at training time by permutation importance)::

    {"method": "permutation", "metric": "accuracy", "repeats": 5, "rows": 1200,
     "features": {"age": {"mean": 0.031, "std": 0.004}, ...}}

Negative means count as 0. Without that key, or with every mean at or below 0 (versions
registered before it, image models), there is no weighted share for the version: the
window result holds None and the gauge is not exported.

Example::

    importance = FeatureImportance.from_metrics(bundle.metrics())
    share = importance.weighted_share(result.features) if importance else None
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitoring.drift.results import FeatureDrift

P_VALUE_METHODS = frozenset(
    {
        # Evidently's names (monitoring.drift_methods) ...
        "ks",
        "chisquare",
        "z",
        "anderson",
        "cramer_von_mises",
        "es",
        "fisher_exact",
        "g_test",
        "mannw",
        "t_test",
        "empirical_mmd",
        "TVD",
        # ... and the display names its tests report
        "K-S p_value",
        "chi-square p_value",
        "Z-test p_value",
        "Anderson-Darling",
        "Cramer-von Mises",
        "Epps-Singleton",
        "Fisher's Exact test",
        "Mann-Whitney U-rank test",
        "Total-Variation-Distance",
    }
)
"""Methods whose score is a p-value (drift when it is below the threshold); every other
method is a distance (drift when it reaches the threshold). A test checks the table covers
every stat test Evidently registers."""
SEVERITY_CAP = 1000.0
"""Severity is capped here: a p-value of 1e-30 is not 1e28 times more drift."""


def lower_is_drift(method: str) -> bool:
    """True for p-value methods (a lower score means more drift)."""
    return method in P_VALUE_METHODS or "p_value" in method


def severity(drift: FeatureDrift) -> float:
    """The statistic against its threshold, oriented so that higher means more drift and 1
    is the threshold: threshold / p-value for p-value tests, distance / threshold for
    distances; 0 to :data:`SEVERITY_CAP`."""
    score, threshold = drift.score, drift.threshold
    if not (math.isfinite(score) and math.isfinite(threshold)) or threshold <= 0:
        return SEVERITY_CAP if drift.drifted else 0.0
    if lower_is_drift(drift.method):
        value = threshold / score if score > 0 else SEVERITY_CAP
    else:
        value = max(score, 0.0) / threshold
    return min(value, SEVERITY_CAP)


@dataclass(frozen=True)
class FeatureImportance:
    """Non-negative importance per raw feature name (at least one above 0)."""

    weights: dict[str, float]
    method: str = "permutation"

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any]) -> FeatureImportance | None:
        """From a bundle's metrics.json; None when it holds no usable importance."""
        block = metrics.get("importance")
        if not isinstance(block, Mapping):
            return None
        features = block.get("features")
        if not isinstance(features, Mapping):
            return None
        weights: dict[str, float] = {}
        for name, entry in features.items():
            mean = entry.get("mean") if isinstance(entry, Mapping) else None
            try:
                value = float(mean)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            weights[str(name)] = value if math.isfinite(value) and value > 0 else 0.0
        if not any(weights.values()):
            return None
        return cls(weights, str(block.get("method", "permutation")))

    def weighted_share(self, features: Mapping[str, FeatureDrift]) -> float | None:
        """Importance of the drifted features over the importance of all compared ones;
        None when no compared feature has any importance."""
        total = sum(self.weights.get(name, 0.0) for name in features)
        if total <= 0:
            return None
        drifted = sum(self.weights.get(name, 0.0) for name, f in features.items() if f.drifted)
        return drifted / total
