"""Data drift of one window against the reference sample, measured by Evidently.

Evidently decides everything here: the per-column method (K-S or chi-square
for small references, Wasserstein or Jensen-Shannon for large ones), each
column's verdict and the dataset verdict (``share of drifted columns <
drift_share`` as a test). This module only declares the column types from the
input contract and reads the snapshot back.

Example::

    detector = DriftDetector(bundle.reference(), bundle.contract(), drift_share=0.5)
    result = detector.run(window_frame)
    result.dataset_drift, result.features["age"].score
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitoring.errors import MonitoringError
from trainsmart.registry.contract import FeatureSpec, InputContract

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_COUNT_METRIC = "evidently:metric_v2:DriftedColumnsCount"
_VALUE_METRIC = "evidently:metric_v2:ValueDrift"
_FAIL = "FAIL"


@dataclass(frozen=True)
class FeatureDrift:
    """Evidently's verdict on one feature."""

    method: str
    """Evidently's test, e.g. 'K-S p_value' or 'chi-square p_value'."""
    score: float
    """The method's statistic (a p-value for the p_value methods)."""
    threshold: float
    drifted: bool
    """Evidently's per-column test failed."""


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_value(spec: FeatureSpec, value: Any) -> Any:
    """A logged or reference value as the drift frame holds it.

    Numeric features become floats (None -> NaN). A categorical feature whose
    categories are strings may arrive as its string or its code (the contract
    accepts both); codes are mapped back to the string so both compare equal.
    """
    if value is None:
        return math.nan
    if spec.kind == "numeric":
        return float(value)
    categories = spec.categories or []
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if categories and all(isinstance(c, str) for c in categories):
            if number.is_integer() and 0 <= int(number) < len(categories):
                return categories[int(number)]
            return str(value)
        return number
    return value


def contract_frame(contract: InputContract, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame with one column per contract feature, in contract order."""
    import pandas as pd

    data = {
        spec.name: [normalize_value(spec, row.get(spec.name)) for row in rows]
        for spec in contract.features
    }
    frame = pd.DataFrame(data, columns=contract.feature_names)
    return _typed(contract, frame)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _typed(contract: InputContract, frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    out = frame.copy()
    for spec in contract.features:
        if spec.kind == "numeric":
            out[spec.name] = pd.to_numeric(out[spec.name], errors="coerce").astype("float64")
        else:
            column = out[spec.name]
            values = column.dropna()
            is_number = values.map(_is_number)
            # numeric codes stay numbers; string categories (or a mix) compare as objects
            out[spec.name] = column.astype("float64" if is_number.all() else object)
    return out


class DriftDetector:
    """Evidently's DataDriftPreset over the contract's features, against a fixed reference."""

    def __init__(
        self, reference: pd.DataFrame, contract: InputContract, drift_share: float
    ) -> None:
        missing = [n for n in contract.feature_names if n not in reference.columns]
        if missing:
            raise MonitoringError(
                f"the drift reference lacks features {missing} of the input contract; "
                "retrain the model so its bundle carries a complete reference.parquet"
            )
        if not 0.0 < drift_share <= 1.0:
            raise MonitoringError(f"drift_share must be in (0, 1], got {drift_share}")
        self.contract = contract
        self.drift_share = drift_share
        specs = {s.name: s for s in contract.features}
        ref = reference[contract.feature_names].copy()
        for name, spec in specs.items():
            if spec.kind == "categorical":
                ref[name] = [normalize_value(spec, v) for v in ref[name].tolist()]
        self.reference = _typed(contract, ref)
        self._last: Any = None

    def run(self, current: pd.DataFrame) -> DriftResult:
        """Compare ``current`` (contract columns; extra columns ignored) with the reference."""
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        missing = [n for n in self.contract.feature_names if n not in current.columns]
        if missing:
            raise MonitoringError(
                f"the window lacks features {missing}; build it with contract_frame()"
            )
        if len(current) == 0:
            raise MonitoringError("the window is empty; drift needs at least one row")
        cur = _typed(self.contract, current[self.contract.feature_names])
        skipped = [
            n
            for n in self.contract.feature_names
            if cur[n].isna().all() or self.reference[n].isna().all()
        ]
        if skipped:
            log.warning("drift: features %s hold only nulls and are not compared", skipped)
        used = [s for s in self.contract.features if s.name not in skipped]
        if not used:
            raise MonitoringError("every feature of the window is null; nothing to compare")
        names = [s.name for s in used]
        definition = DataDefinition(
            numerical_columns=[s.name for s in used if s.kind == "numeric"],
            categorical_columns=[s.name for s in used if s.kind == "categorical"],
        )
        report = Report([DataDriftPreset(drift_share=self.drift_share)], include_tests=True)
        snapshot = report.run(
            current_data=Dataset.from_pandas(cur[names], data_definition=definition),
            reference_data=Dataset.from_pandas(self.reference[names], data_definition=definition),
        )
        self._last = snapshot
        return parse_snapshot(snapshot.dict(), rows=len(cur), skipped=skipped)

    def save_html(self, path: Path) -> None:
        """Write Evidently's HTML report of the last run to ``path``."""
        if self._last is None:
            raise MonitoringError("no drift report yet; call run() before save_html()")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._last.save_html(str(path))


def _status(test: dict[str, Any]) -> str:
    status = test.get("status")
    return str(getattr(status, "value", status))


def parse_snapshot(
    snapshot: dict[str, Any], rows: int, skipped: list[str] | None = None
) -> DriftResult:
    """Read a DataDriftPreset snapshot dict (``snapshot.dict()``) into a DriftResult."""
    metrics = snapshot.get("metrics", [])
    failed: dict[str, bool] = {}
    for test in snapshot.get("tests", []):
        metric_id = test.get("metric_config", {}).get("metric_id")
        if metric_id is not None:
            failed[metric_id] = failed.get(metric_id, False) or _status(test) == _FAIL
    count = next((m for m in metrics if m["config"]["type"] == _COUNT_METRIC), None)
    if count is None or count["id"] not in failed:
        raise MonitoringError(
            "Evidently's snapshot has no DriftedColumnsCount test; run the report with "
            "DataDriftPreset and include_tests=True"
        )
    features: dict[str, FeatureDrift] = {}
    for metric in metrics:
        config = metric["config"]
        if config["type"] != _VALUE_METRIC:
            continue
        method, threshold, score = (
            str(config["method"]),
            float(config["threshold"]),
            float(metric["value"]),
        )
        drifted = failed.get(metric["id"])
        if drifted is None:  # no test recorded: Evidently's own rule for its methods
            drifted = score < threshold if "p_value" in method else score >= threshold
        features[str(config["column"])] = FeatureDrift(method, score, threshold, drifted)
    return DriftResult(
        rows=rows,
        dataset_drift=failed[count["id"]],
        drift_share=float(count["value"]["share"]),
        drifted_count=int(count["value"]["count"]),
        features=features,
        skipped=list(skipped or []),
    )
