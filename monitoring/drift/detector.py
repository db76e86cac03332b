"""Data drift of one window against the reference sample, decided by Evidently's tests.

Two paths give the same verdicts:

* :meth:`DriftDetector.run`, the hot path: per column, Evidently's own method choice
  (``get_stattest``: by type and reference size, or the override in
  :class:`DriftOptions`), its stat test and threshold, after Evidently's cleaning
  (nulls and infinities dropped); the dataset drifts when the share of drifted
  columns reaches ``drift_share``, as Evidently's DriftedColumnsCount test says.
  A few milliseconds per column, no report objects.
* :meth:`DriftDetector.report`, the full ``Report([DataDriftPreset], include_tests=True)``
  snapshot, built when a window drifts or someone asks (HTML for people);
  :func:`monitoring.drift.evidently_report.parse_snapshot` reads it into the same
  :class:`DriftResult`, and a test checks both agree.

The reference is typed once, when the detector is built for a version.

Example::

    detector = DriftDetector(bundle.reference(), bundle.contract(), DriftOptions(0.5))
    result = detector.run(window_frame)
    result.dataset_drift, result.features["age"].score
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitoring.drift.evidently_report import evidently_report, parse_snapshot
from monitoring.drift.frames import normalize_value, typed_frame
from monitoring.drift.options import DriftOptions
from monitoring.drift.results import DriftResult, FeatureDrift
from monitoring.errors import MonitoringError
from trainsmart.registry.contract import InputContract

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def column_drift(
    reference: pd.Series, current: pd.Series, kind: str, method: str | None, threshold: float | None
) -> FeatureDrift:
    """Evidently's verdict on one column: its method (or ``method``), score and test."""
    # lazy: evidently takes ~2 s to import; numpy comes with it
    import numpy as np
    from evidently.legacy.calculations.stattests.registry import get_stattest  # lazy: evidently
    from evidently.legacy.core import ColumnType  # lazy: evidently

    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    ref = reference.replace([-np.inf, np.inf], np.nan).dropna()
    cur = current.replace([-np.inf, np.inf], np.nan).dropna()
    test = get_stattest(ref, cur, column_type, method)
    result = test(ref, cur, column_type, threshold)
    return FeatureDrift(
        method=method or test.display_name,  # Evidently's report names an override as given
        score=float(result.drift_score),
        threshold=float(result.actual_threshold),
        drifted=bool(result.drifted),
    )


class DriftDetector:
    """The contract's features of a window against a fixed reference, Evidently's way."""

    def __init__(
        self,
        reference: pd.DataFrame,
        contract: InputContract,
        options: DriftOptions | None = None,
        *,
        drift_share: float | None = None,
    ) -> None:
        """``options`` (method and threshold overrides), or only ``drift_share``."""
        missing = [n for n in contract.feature_names if n not in reference.columns]
        if missing:
            raise MonitoringError(
                f"the drift reference lacks features {missing} of the input contract; "
                "retrain the model so its bundle carries a complete reference.parquet"
            )
        if options is None:
            options = DriftOptions(0.5 if drift_share is None else drift_share)
        if not 0.0 < options.drift_share <= 1.0:
            raise MonitoringError(f"drift_share must be in (0, 1], got {options.drift_share}")
        options.check(contract.feature_names)
        self.contract = contract
        self.options = options
        self.drift_share = options.drift_share
        ref = reference[contract.feature_names].copy()
        for spec in contract.features:
            if spec.kind == "categorical":
                ref[spec.name] = [normalize_value(spec, v) for v in ref[spec.name].tolist()]
        self.reference = typed_frame(contract, ref)
        self._last: Any = None

    def _prepare(self, current: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        missing = [n for n in self.contract.feature_names if n not in current.columns]
        if missing:
            raise MonitoringError(
                f"the window lacks features {missing}; build it with contract_frame()"
            )
        if len(current) == 0:
            raise MonitoringError("the window is empty; drift needs at least one row")
        cur = typed_frame(self.contract, current[self.contract.feature_names])
        skipped = [
            n
            for n in self.contract.feature_names
            if cur[n].isna().all() or self.reference[n].isna().all()
        ]
        if skipped:
            log.warning("drift: features %s hold only nulls and are not compared", skipped)
        if len(skipped) == len(self.contract.features):
            raise MonitoringError("every feature of the window is null; nothing to compare")
        return cur, skipped

    def run(self, current: pd.DataFrame) -> DriftResult:
        """The hot path: Evidently's per-column tests, no report (see the module doc)."""
        cur, skipped = self._prepare(current)
        features: dict[str, FeatureDrift] = {}
        for spec in self.contract.features:
            if spec.name in skipped:
                continue
            features[spec.name] = column_drift(
                self.reference[spec.name],
                cur[spec.name],
                spec.kind,
                self.options.method(spec.name, spec.kind),
                self.options.threshold(spec.name, spec.kind),
            )
        drifted = sum(f.drifted for f in features.values())
        share = drifted / len(features)
        return DriftResult(
            rows=len(cur),
            dataset_drift=share >= self.drift_share,
            drift_share=share,
            drifted_count=drifted,
            features=features,
            skipped=skipped,
        )

    def report(self, current: pd.DataFrame) -> DriftResult:
        """The full Evidently Report of ``current`` (kept for :meth:`save_html`), read back
        into a DriftResult."""
        cur, skipped = self._prepare(current)
        used = [s for s in self.contract.features if s.name not in skipped]
        snapshot = evidently_report(
            self.reference,
            cur,
            [s.name for s in used if s.kind == "numeric"],
            [s.name for s in used if s.kind == "categorical"],
            self.options,
        )
        self._last = snapshot
        return parse_snapshot(snapshot.dict(), rows=len(cur), skipped=skipped)

    def save_html(self, path: Path) -> None:
        """Write Evidently's HTML report of the last :meth:`report` to ``path``."""
        if self._last is None:
            raise MonitoringError("no drift report yet; call report() before save_html()")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._last.save_html(str(path))
