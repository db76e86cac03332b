"""The full Evidently Report of a window: HTML for people, a snapshot for the record.

The monitor's hot path (:meth:`monitoring.drift.detector.DriftDetector.run`) computes the same
per-column verdicts with Evidently's stat tests directly; this module builds the
whole ``Report([DataDriftPreset(...)], include_tests=True)`` (about 1-2 s of fixed
overhead) only when a window drifts or someone asks, and reads a snapshot back
into a :class:`DriftResult` (:func:`parse_snapshot`), which is how a test shows
both paths agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitoring.drift.results import DriftResult, FeatureDrift
from monitoring.errors import MonitoringError

if TYPE_CHECKING:
    import pandas as pd

    from monitoring.drift.options import DriftOptions

_COUNT_METRIC = "evidently:metric_v2:DriftedColumnsCount"
_VALUE_METRIC = "evidently:metric_v2:ValueDrift"
_FAIL = "FAIL"


def evidently_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    options: DriftOptions,
) -> Any:
    """Run Evidently's DataDriftPreset (with tests) on the named columns; the snapshot."""
    from evidently import DataDefinition, Dataset, Report  # lazy: evidently takes ~2 s
    from evidently.presets import DataDriftPreset  # lazy: evidently takes ~2 s

    names = [*numeric, *categorical]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    preset = DataDriftPreset(drift_share=options.drift_share, **options.preset_kwargs(names))
    report = Report([preset], include_tests=True)
    return report.run(
        current_data=Dataset.from_pandas(current[names], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[names], data_definition=definition),
    )


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
