"""What one window's check found: per-feature drift, dataset drift, prediction drift and
data quality. Plain dataclasses, journaled as JSON (``to_dict``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class FeatureDrift:
    """Evidently's verdict on one column (a feature, or the model's predictions)."""

    method: str
    """Evidently's test, e.g. 'K-S p_value' or 'chi-square p_value'."""
    score: float
    """The method's statistic (a p-value for the p_value methods)."""
    threshold: float
    drifted: bool
    """Evidently's per-column test failed."""


@dataclass(frozen=True)
class FeatureQuality:
    """Rows of one feature in a window that are missing, outside the training range
    (numeric: below the contract's min or above its max) or of an unseen category."""

    missing: int
    out_of_range: int
    unseen: int
    rows: int

    def shares(self) -> dict[str, float]:
        total = max(self.rows, 1)
        return {
            "missing": self.missing / total,
            "out_of_range": self.out_of_range / total,
            "unseen": self.unseen / total,
        }


@dataclass(frozen=True)
class DriftResult:
    """One window compared with the reference."""

    rows: int
    dataset_drift: bool
    """Evidently's dataset test failed (share of drifted columns reached drift_share)."""
    drift_share: float
    """Share of compared features that drifted."""
    drifted_count: int
    features: dict[str, FeatureDrift]
    skipped: list[str] = field(default_factory=list)
    """Features left out because the window or the reference holds only nulls for them."""
    prediction: FeatureDrift | None = None
    """Drift of the predicted classes (or values) against the reference's predictions."""
    quality: dict[str, FeatureQuality] = field(default_factory=dict)
    weighted_drift_share: float | None = None
    """Importance of the drifted features over that of all compared ones
    (``monitoring/drift/importance.py``); None when the version's bundle has no importance."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
