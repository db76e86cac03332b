"""The per-version estimator: logged probabilities -> calibrated -> CBPE -> gauges; a bundle
without calibration.json gets no estimate (said once)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from monitoring.estimate.metrics import EstimateMetrics
from monitoring.estimate.window import WindowEstimator, probability_matrix
from monitoring.metrics import MonitorMetrics
from monitoring.retrain.harm import HarmRule
from monitoring.retrain.policy import RetrainPolicy
from monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import make_contract
from trainsmart.registry.bundle import Bundle
from trainsmart.registry.calibration import Calibration
from trainsmart.state.inputlog import LoggedRow

CALIBRATION = Calibration("temperature", ["0", "1"], temperature=2.0, bias=[0.0, -0.5])
SERVING = {"accuracy": 0.8, "roc_auc": 0.85}


def bundle(tmp_path: Path, calibrated: bool, version: str = "v1") -> Bundle:
    folder = tmp_path / version
    folder.mkdir()
    (folder / "contract.json").write_text(make_contract().model_dump_json())
    (folder / "metrics.json").write_text(json.dumps({"serving": SERVING}))
    if calibrated:
        CALIBRATION.write(folder)
    return Bundle("fair", version, folder)


def rows(n: int, seed: int = 0) -> list[LoggedRow]:
    rng = np.random.default_rng(seed)
    out = []
    for i, p1 in enumerate(rng.uniform(0.02, 0.98, n)):
        prediction: dict[str, Any] = {
            "class": "1" if p1 > 0.5 else "0",
            "probabilities": {"0": 1 - p1, "1": p1},
        }
        out.append(LoggedRow(i + 1, "r", i, 0.0, "fair", "v1", {}, prediction, False))
    return out


def test_a_window_is_estimated_from_its_calibrated_probabilities(tmp_path: Path) -> None:
    prom = CollectorRegistry()
    config = MonitoringSettings(estimated_drop=0.05)
    estimator = WindowEstimator("fair", MonitorMetrics(prom).estimates, config)
    estimator.switch(bundle(tmp_path, calibrated=True))
    window = rows(300)
    found = estimator.run(window)
    assert found is not None and found.calibration == "temperature"
    assert found.test == SERVING
    assert found.threshold == pytest.approx({"accuracy": 0.75, "roc_auc": 0.80})
    raw = probability_matrix([r.prediction for r in window], ["0", "1"])
    calibrated = CALIBRATION.apply(raw)[np.arange(300), raw.argmax(axis=1)].mean()
    accuracy = found.estimate("accuracy")
    assert accuracy is not None and accuracy.value == pytest.approx(calibrated)
    assert accuracy.value != pytest.approx(raw.max(axis=1).mean(), abs=0.01)
    for metric in ("accuracy", "roc_auc"):
        labels = {"model": "fair", "version": "v1", "metric": metric}
        one = found.estimate(metric)
        assert one is not None
        assert prom.get_sample_value("trainsmart_estimated_metric", labels) == one.value
        assert prom.get_sample_value("trainsmart_estimated_metric_lower", labels) == one.lower
        assert prom.get_sample_value("trainsmart_estimated_metric_upper", labels) == one.upper
        assert prom.get_sample_value(
            "trainsmart_estimated_metric_threshold", labels
        ) == pytest.approx(found.threshold[metric])
        assert one.lower <= one.value <= one.upper


def test_an_old_bundle_gets_no_estimate_and_it_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prom = CollectorRegistry()
    estimator = WindowEstimator("fair", EstimateMetrics(prom), MonitoringSettings())
    with caplog.at_level(logging.INFO, logger="monitoring.estimate.window"):
        estimator.switch(bundle(tmp_path, calibrated=False))
        assert estimator.run(rows(300)) is None
        assert estimator.run(rows(300, seed=1)) is None
    said = [r for r in caplog.records if "no calibration.json" in r.getMessage()]
    assert len(said) == 1
    labels = {"model": "fair", "version": "v1", "metric": "accuracy"}
    assert prom.get_sample_value("trainsmart_estimated_metric", labels) is None


def test_rows_without_probabilities_are_left_out(tmp_path: Path) -> None:
    estimator = WindowEstimator("fair", EstimateMetrics(CollectorRegistry()), MonitoringSettings())
    estimator.switch(bundle(tmp_path, calibrated=True))
    window = rows(12)
    bare = [LoggedRow(99, "r", 0, 0.0, "fair", "v1", {}, {"class": "1"}, True)] * 20
    found = estimator.run(window + bare)
    assert found is not None and found.estimates[0].rows == 12
    assert estimator.run(rows(5) + bare) is None  # under MIN_ROWS with probabilities


def test_the_harm_rule_can_compare_roc_auc(tmp_path: Path) -> None:
    estimator = WindowEstimator("fair", EstimateMetrics(CollectorRegistry()), MonitoringSettings())
    estimator.switch(bundle(tmp_path, calibrated=True))
    found = estimator.run(rows(300))
    auc = found.estimate("roc_auc") if found else None
    assert auc is not None
    rule = HarmRule("estimated_harm", "roc_auc", 0.02, 1)
    fired, verdict = rule.observe(RetrainPolicy(1, 0), "v1", False, found, now=0)
    harmful = auc.value < SERVING["roc_auc"] - 0.02
    assert fired == harmful
    assert f"estimated roc_auc {auc.value:.3f}" in verdict.reason


def test_a_new_versions_estimate_removes_the_old_versions_series() -> None:
    from prometheus_client import CollectorRegistry

    from monitoring.estimate.cbpe import Estimate
    from monitoring.estimate.metrics import EstimateMetrics

    registry = CollectorRegistry()
    gauges = EstimateMetrics(registry)
    gauges.set("m", "v1", Estimate("accuracy", 0.9, 0.85, 0.95, 500), threshold=0.86)
    gauges.set("other", "v7", Estimate("accuracy", 0.7, 0.65, 0.75, 500), threshold=None)
    gauges.set("m", "v2", Estimate("accuracy", 0.8, 0.75, 0.85, 500), threshold=0.78)
    labels = {"model": "m", "metric": "accuracy"}
    value = "trainsmart_estimated_metric"
    assert registry.get_sample_value(value, {**labels, "version": "v1"}) is None
    assert registry.get_sample_value(f"{value}_threshold", {**labels, "version": "v1"}) is None
    assert registry.get_sample_value(value, {**labels, "version": "v2"}) == 0.8
    other = {"model": "other", "version": "v7", "metric": "accuracy"}
    assert registry.get_sample_value(value, other) == 0.7
