"""Drift weighted by importance: a shift of an important feature weighs more than a shift of
an unimportant one; importance read from metrics.json; p-values and distances oriented
alike; and the monitor journals and exports the weighted share of a version that has one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.drift.detector import DriftDetector
from monitoring.drift.importance import (
    SEVERITY_CAP,
    FeatureImportance,
    lower_is_drift,
    severity,
)
from monitoring.drift.options import DriftOptions
from monitoring.drift.results import FeatureDrift
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from tests.monitoring.conftest import FEATURES, WINDOW_ROWS, log_rows
from tests.monitoring.test_monitor import RecordingRunner
from trainsmart.registry import InputContract, Lineage, Registry
from trainsmart.state import InputLog, JobStore

IMPORTANCE = {
    "method": "permutation",
    "metric": "accuracy",
    "repeats": 5,
    "rows": 600,
    "features": {
        "rate_marriage": {"mean": 0.12, "std": 0.01},
        "age": {"mean": 0.08, "std": 0.01},
        "yrs_married": {"mean": 0.05, "std": 0.01},
        "children": {"mean": 0.002, "std": 0.001},
        "religious": {"mean": 0.01, "std": 0.004},
        "educ": {"mean": -0.003, "std": 0.002},  # negative: counts as 0
        "occupation": {"mean": 0.0, "std": 0.0},
        "occupation_husb": {"mean": 0.001, "std": 0.001},
    },
}


def _shift(frame: pd.DataFrame, column: str, by: float) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column] + by
    return out


def test_an_important_feature_drifting_weighs_more_than_an_unimportant_one(
    reference: pd.DataFrame, unshifted: pd.DataFrame, contract: InputContract
) -> None:
    detector = DriftDetector(reference, contract, DriftOptions(0.5))
    importance = FeatureImportance.from_metrics({"importance": IMPORTANCE})
    assert importance is not None
    window = unshifted.iloc[:300]
    important = detector.run(_shift(window, "rate_marriage", -1.5))
    unimportant = detector.run(_shift(window, "children", 2.0))
    calm = detector.run(window)
    # Evidently's unweighted share cannot tell the two apart: one drifted feature of eight
    assert important.drifted_count == unimportant.drifted_count == 1
    assert important.features["rate_marriage"].drifted
    assert unimportant.features["children"].drifted
    high = importance.weighted_share(important.features)
    low = importance.weighted_share(unimportant.features)
    assert high is not None and low is not None
    total = 0.12 + 0.08 + 0.05 + 0.002 + 0.01 + 0.001
    assert high == pytest.approx(0.12 / total)
    assert low == pytest.approx(0.002 / total)
    assert high > 0.4 > 0.01 > low
    assert importance.weighted_share(calm.features) == 0.0


def test_importance_is_read_from_metrics_json_and_absent_when_unusable() -> None:
    importance = FeatureImportance.from_metrics({"fp32": {}, "importance": IMPORTANCE})
    assert importance is not None and importance.method == "permutation"
    assert importance.weights["educ"] == 0.0 and importance.weights["age"] == 0.08
    assert FeatureImportance.from_metrics({"fp32": {"accuracy": 0.7}}) is None
    zero = {"features": {"a": {"mean": 0.0, "std": 0.0}, "b": {"mean": -0.1, "std": 0.0}}}
    assert FeatureImportance.from_metrics({"importance": zero}) is None
    assert FeatureImportance.from_metrics({"importance": {"features": []}}) is None
    odd = {"features": {"a": {"mean": "n/a"}, "b": {"mean": 0.2}, "c": 3}}
    parsed = FeatureImportance.from_metrics({"importance": odd})
    assert parsed is not None and parsed.weights == {"b": 0.2}
    drift = FeatureDrift("K-S p_value", 0.001, 0.05, True)
    assert parsed.weighted_share({"a": drift}) is None  # no compared feature has importance


def _registered_tests() -> dict[str, tuple[str, object]]:
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
    from evidently.legacy.core import ColumnType

    tests: dict[str, tuple[str, object]] = {}
    for name, by_type in _registered_stat_tests.items():
        for column_type, test in by_type.items():
            if column_type in (ColumnType.Numerical, ColumnType.Categorical):
                tests[name] = (test.display_name, column_type)
    return tests


def test_every_evidently_stat_test_is_oriented_by_how_it_decides() -> None:
    """Run each registered test on the reference shuffled and on a shifted sample: a p-value test's
    score falls with drift, a distance's rises. The table must say the same, under both the
    short name (settings) and the display name (what Evidently reports)."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(0)
    ref_num = pd.Series(rng.normal(0, 1, 400))
    same_num = ref_num.sample(frac=1.0, random_state=1).reset_index(drop=True)
    far_num = pd.Series(rng.normal(1.5, 1, 400))
    ref_cat = pd.Series(rng.choice(list("ab"), 400, p=[0.6, 0.4]))  # fisher, z: binary
    same_cat = ref_cat.sample(frac=1.0, random_state=1).reset_index(drop=True)
    far_cat = pd.Series(rng.choice(list("ab"), 400, p=[0.2, 0.8]))
    tests = _registered_tests()
    assert len(tests) >= 15
    for name, (display, column_type) in tests.items():
        numeric = column_type == ColumnType.Numerical
        ref, same, far = (ref_num, same_num, far_num) if numeric else (ref_cat, same_cat, far_cat)
        test = get_stattest(ref, same, column_type, name)
        calm = test(ref, same, column_type, None)
        drifted = test(ref, far, column_type, None)
        assert drifted.drifted and not calm.drifted, name
        falls = drifted.drift_score < calm.drift_score
        assert lower_is_drift(name) == falls, name
        assert lower_is_drift(str(display)) == falls, display
        for result in (calm, drifted):
            fd = FeatureDrift(name, result.drift_score, result.actual_threshold, result.drifted)
            assert (severity(fd) >= 1.0) == result.drifted, (name, result)


def test_severity_puts_p_values_and_distances_on_one_scale() -> None:
    assert severity(FeatureDrift("K-S p_value", 0.5, 0.05, False)) == pytest.approx(0.1)
    assert severity(FeatureDrift("ks", 0.005, 0.05, True)) == pytest.approx(10.0)
    assert severity(FeatureDrift("ks", 0.0, 0.05, True)) == SEVERITY_CAP
    assert severity(FeatureDrift("ks", 1e-300, 0.05, True)) == SEVERITY_CAP
    assert severity(FeatureDrift("PSI", 0.25, 0.1, True)) == pytest.approx(2.5)
    assert severity(FeatureDrift("Wasserstein distance (normed)", 0.05, 0.1, False)) == 0.5
    assert severity(FeatureDrift("jensenshannon", float("nan"), 0.1, False)) == 0.0


def test_the_monitor_journals_and_exports_the_weighted_share_per_version(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    contract: InputContract,
    reference: pd.DataFrame,
    unshifted: pd.DataFrame,
    tmp_path: Path,
) -> None:
    def register(name: str, metrics: dict[str, object]) -> str:
        staging = tmp_path / name
        staging.mkdir()
        (staging / "model.onnx").write_bytes(b"not loaded by the monitor")
        (staging / "contract.json").write_text(contract.model_dump_json())
        (staging / "metrics.json").write_text(json.dumps(metrics))
        reference.to_parquet(staging / "reference.parquet")
        version = registry.register("fair", staging, Lineage(dataset_fingerprint="x")).version
        registry.promote("fair", version, reason="test")
        return version

    prom = CollectorRegistry()
    jobs = JobStore(input_log.db)
    monitor = Monitor(
        settings.monitoring_scope(),
        registry,
        input_log,
        jobs,
        RecordingRunner(jobs),
        MonitorMetrics(prom),
    )
    first = register("v1", {"fp32": {"accuracy": 0.7}, "importance": IMPORTANCE})
    log_rows(input_log, first, _shift(unshifted.iloc[:WINDOW_ROWS], "rate_marriage", -1.5), "a")
    (result,) = monitor.check_once()
    share = result.drift.weighted_drift_share
    assert share is not None and share > 0.4
    line = monitor.journal.last()
    assert line is not None
    assert line["result"]["weighted_drift_share"] == pytest.approx(share)
    assert prom.get_sample_value(
        "trainsmart_weighted_drift_share", {"model": "fair", "version": first}
    ) == pytest.approx(share)
    labels = {"model": "fair", "version": first, "feature": "rate_marriage"}
    method = result.drift.features["rate_marriage"].method
    assert prom.get_sample_value("trainsmart_feature_drifted", {**labels, "method": method}) == 1
    # a version without importance: no weighted share, and the old version's series are gone
    second = register("v2", {"fp32": {"accuracy": 0.7}})
    log_rows(input_log, second, unshifted.iloc[WINDOW_ROWS : 2 * WINDOW_ROWS], "b")
    (result,) = monitor.check_once()
    assert result.drift.weighted_drift_share is None
    names = {s.labels.get("version") for m in prom.collect() for s in m.samples}
    assert first not in names and second in names
    for metric in prom.collect():
        if metric.name == "trainsmart_weighted_drift_share":
            assert metric.samples == []
    assert set(FEATURES) == {
        s.labels["feature"]
        for m in prom.collect()
        if m.name == "trainsmart_feature_drifted"
        for s in m.samples
    }
