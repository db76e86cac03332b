"""Which stat test and threshold each feature's drift uses: Evidently's defaults unless
settings override them per feature or per type.

Evidently picks a method by column type and reference size (K-S or chi-square/Z for
references of at most 1,000 rows, Wasserstein or Jensen-Shannon above), each with its
own default threshold. ``monitoring.drift_methods`` and ``monitoring.drift_thresholds``
override it per feature name, or per type with the keys ``numeric`` and
``categorical``; a feature's own entry wins over its type's. Method names are
Evidently's: ``ks``, ``chisquare``, ``z``, ``wasserstein``, ``jensenshannon``,
``psi``, ``kl_div``, ``anderson``, ``mannw``, ``hellinger``, ``ed``, ``cramer_von_mises``...

Example (YAML)::

    monitoring:
      drift_methods: {numeric: psi, occupation: jensenshannon}
      drift_thresholds: {numeric: 0.2, age: 0.1}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitoring.errors import MonitoringError

TYPES = ("numeric", "categorical")


@dataclass(frozen=True)
class DriftOptions:
    """Dataset drift share and the per-feature / per-type overrides of method and threshold."""

    drift_share: float = 0.5
    methods: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)

    def method(self, name: str, kind: str) -> str | None:
        """The override for feature ``name`` of ``kind`` (None: Evidently's default)."""
        return self.methods.get(name, self.methods.get(kind))

    def threshold(self, name: str, kind: str) -> float | None:
        return self.thresholds.get(name, self.thresholds.get(kind))

    def preset_kwargs(self, names: list[str]) -> dict[str, Any]:
        """The same overrides as DataDriftPreset arguments (for the full report)."""
        kwargs: dict[str, Any] = {}
        if "numeric" in self.methods:
            kwargs["num_method"] = self.methods["numeric"]
        if "categorical" in self.methods:
            kwargs["cat_method"] = self.methods["categorical"]
        if "numeric" in self.thresholds:
            kwargs["num_threshold"] = self.thresholds["numeric"]
        if "categorical" in self.thresholds:
            kwargs["cat_threshold"] = self.thresholds["categorical"]
        per_method = {n: m for n, m in self.methods.items() if n in names}
        per_threshold = {n: t for n, t in self.thresholds.items() if n in names}
        if per_method:
            kwargs["per_column_method"] = per_method
        if per_threshold:
            kwargs["per_column_threshold"] = per_threshold
        return kwargs

    def check(self, feature_names: list[str]) -> None:
        """Raise MonitoringError for an override naming no feature or type, or an unknown
        method."""
        # lazy: evidently takes ~2 s to import
        from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

        known = set(feature_names) | set(TYPES) | {"prediction"}
        for table in (self.methods, self.thresholds):
            unknown = sorted(set(table) - known)
            if unknown:
                raise MonitoringError(
                    f"drift overrides name {unknown}, which are neither features of the input "
                    f"contract nor the types {list(TYPES)}; features: {feature_names}"
                )
        bad = sorted({m for m in self.methods.values() if m not in _registered_stat_tests})
        if bad:
            raise MonitoringError(
                f"unknown drift methods {bad}; Evidently knows {sorted(_registered_stat_tests)}"
            )
