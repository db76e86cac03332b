"""Retraining on estimated harm: monitoring.trigger drift | estimated_harm | both.

The rule alone (HarmRule + RetrainPolicy), then the real monitor on real drift (the Fair
data's older couples) with logged probabilities and a bundle whose calibration.json
decides: the served probabilities say 0.97, calibrated they say 0.76."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings, load_settings
from monitoring.estimate.cbpe import Estimate
from monitoring.estimate.window import WindowEstimate
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.retrain.harm import HarmRule
from monitoring.retrain.policy import RetrainPolicy
from monitoring.runners.base import JobRunner
from monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import WINDOW_ROWS
from trainsmart.registry import InputContract, Lineage, Registry
from trainsmart.registry.calibration import Calibration
from trainsmart.state import Database, InputLog, Job, JobStore

TEST_ACCURACY = 0.9
CALIBRATION = Calibration("temperature", ["0", "1"], temperature=3.0)


def found(value: float, test: float = TEST_ACCURACY, drop: float = 0.02) -> WindowEstimate:
    one = Estimate("accuracy", value, value - 0.01, value + 0.01, 300)
    return WindowEstimate([one], "temperature", {"accuracy": test}, {"accuracy": test - drop})


def rule_and_policy(mode: str, windows: int = 2) -> tuple[HarmRule, RetrainPolicy]:
    rule = HarmRule(mode, "accuracy", 0.02, windows)  # type: ignore[arg-type]
    return rule, RetrainPolicy(rule.windows(consecutive_windows=3), cooldown_s=0)


def test_estimated_harm_fires_after_k_windows_below_the_drop() -> None:
    rule, policy = rule_and_policy("estimated_harm")
    fired, verdict = rule.observe(policy, "v1", False, found(0.81), now=0)
    assert not fired and verdict.counts
    assert verdict.reason.startswith("estimated accuracy 0.810 ± 0.010 below 0.880")
    assert verdict.reason.endswith("1 of 2 windows")
    fired, verdict = rule.observe(policy, "v1", False, found(0.80), now=1)
    assert fired and verdict.reason.startswith("retrain: estimated harm in 2 consecutive")
    assert "estimated accuracy 0.800 ± 0.010 below 0.880 (test 0.900 - 0.02)" in policy.describe()
    assert "monitoring.trigger: estimated_harm" in policy.describe()


def test_drift_whose_estimate_holds_does_not_fire() -> None:
    for mode in ("estimated_harm", "both"):
        rule, policy = rule_and_policy(mode)
        verdicts = [rule.observe(policy, "v1", True, found(0.885), now=t) for t in range(4)]
        assert not any(fired for fired, _ in verdicts)
        assert verdicts[1][1].reason == (
            "no retrain: inputs drifted in 2 windows but estimated accuracy 0.885 ± 0.010 "
            "holds above 0.880 (test 0.900 - 0.02)"
        )


def test_both_needs_drift_and_harm_in_the_same_windows() -> None:
    rule, policy = rule_and_policy("both")
    assert not rule.observe(policy, "v1", False, found(0.8), 0)[0]  # harm without drift
    assert not rule.observe(policy, "v1", True, found(0.8), 1)[0]  # 1 of 2
    _, verdict = rule.observe(policy, "v1", False, found(0.8), 2)  # the streak breaks
    assert not verdict.counts and "no dataset drift" in verdict.reason
    assert not rule.observe(policy, "v1", True, found(0.8), 3)[0]
    fired, verdict = rule.observe(policy, "v1", True, found(0.8), 4)
    assert fired and "drift and estimated harm in 2 consecutive windows" in verdict.reason


def test_without_an_estimate_the_drift_rule_decides() -> None:
    rule, policy = rule_and_policy("both")
    assert not rule.observe(policy, "v1", True, None, 0)[0]
    fired, verdict = rule.observe(policy, "v1", True, None, 1)
    assert fired and verdict.reason == f"retrain: {policy.describe()}"
    assert policy.describe() == (
        "dataset drift in 2 consecutive windows of v1 (no performance estimate: the drift "
        "rule decides; monitoring.trigger: both)"
    )


def test_the_drift_trigger_keeps_its_rule_and_reason() -> None:
    rule, policy = rule_and_policy("drift")
    assert policy.consecutive_windows == 3
    results = [rule.observe(policy, "v1", True, found(0.95), t) for t in range(3)]
    assert [fired for fired, _ in results] == [False, False, True]
    assert policy.describe() == "dataset drift in 3 consecutive windows of v1 (policy: 3)"
    assert "estimated accuracy 0.950" in results[0][1].reason  # shown, not used


# -- the real monitor -------------------------------------------------------------------------
class Runner(JobRunner):
    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs
        self.started: list[Job] = []

    def start(self, job: Job) -> None:
        self.jobs.mark_running(job.id, pid=0, log_path="-")
        self.started.append(job)

    def poll(self) -> list[Job]:
        return []

    def tracks(self, job_id: int) -> bool:
        return any(j.id == job_id for j in self.started)


def harm_settings(tmp_path: Path, trigger: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        model_name="fair",
        monitoring=MonitoringSettings(
            window_rows=WINDOW_ROWS,
            cooldown_s=3600.0,
            interval_s=0.05,
            min_labelled_rows=0,
            settle_s=0.0,
            trigger=trigger,  # type: ignore[arg-type]
            estimated_windows=2,
        ),
    )


def register(
    registry: Registry, contract: InputContract, reference: pd.DataFrame, tmp: Path
) -> str:
    staging = tmp / "staging"
    staging.mkdir()
    (staging / "model.onnx").write_bytes(b"not loaded: prediction drift is skipped")
    (staging / "contract.json").write_text(contract.model_dump_json())
    (staging / "metrics.json").write_text(json.dumps({"serving": {"accuracy": TEST_ACCURACY}}))
    reference.to_parquet(staging / "reference.parquet")
    CALIBRATION.write(staging)
    version = registry.register("fair", staging, Lineage(dataset_fingerprint="x")).version
    registry.promote("fair", version, reason="test")
    return version


def log_window(
    log: InputLog, version: str, frame: pd.DataFrame, confidence: float, tag: str
) -> None:
    rows = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.head(WINDOW_ROWS).to_dict(orient="records")
    ]
    answer: dict[str, Any] = {
        "class": "0",
        "probabilities": {"0": confidence, "1": round(1 - confidence, 6)},
    }
    log.append(tag, "fair", version, rows, [answer] * len(rows), [False] * len(rows))


@pytest.mark.parametrize("trigger", ["estimated_harm", "both"])
def test_the_monitor_retrains_on_estimated_harm_and_says_why(
    trigger: str,
    tmp_path: Path,
    db: Database,
    contract: InputContract,
    reference: pd.DataFrame,
    unshifted: pd.DataFrame,
    shifted: pd.DataFrame,
) -> None:
    settings = harm_settings(tmp_path, trigger)
    registry, log, jobs = Registry(settings.paths.model_store, db), InputLog(db), JobStore(db)
    version = register(registry, contract, reference, tmp_path)
    prom = CollectorRegistry()
    monitor = Monitor(
        settings.monitoring_scope(), registry, log, jobs, Runner(jobs), MonitorMetrics(prom)
    )
    # benign: the inputs drift, the served probabilities stay sure (0.999 -> 0.909 calibrated)
    log_window(log, version, shifted.iloc[:WINDOW_ROWS], 0.999, "a")
    log_window(log, version, shifted.iloc[WINDOW_ROWS:], 0.999, "b")
    benign = monitor.check_once()
    assert [w.drift.dataset_drift for w in benign] == [True, True]
    assert jobs.last_created("fair") is None
    assert benign[1].decision is not None and benign[1].decision.startswith(
        "no retrain: inputs drifted in 2 windows but estimated accuracy 0.909"
    )
    # harmful: 0.97 served looks fine raw (above 0.88), calibrated it is 0.76
    frame = unshifted if trigger == "estimated_harm" else shifted.iloc[2 * WINDOW_ROWS :]
    log_window(log, version, frame.iloc[:WINDOW_ROWS], 0.97, "c")
    log_window(log, version, frame.iloc[WINDOW_ROWS:], 0.97, "d")
    harmful = monitor.check_once()
    [estimate] = [Estimate(**harmful[0].estimate["metrics"]["accuracy"])]  # type: ignore[index]
    raw_says = 0.97
    assert estimate.value == pytest.approx(CALIBRATION.apply(np.array([[0.97, 0.03]]))[0, 0])
    assert estimate.value < 0.8 < raw_says
    job = jobs.last_created("fair")
    assert job is not None and harmful[1].job_id == job.id
    assert job.reason.startswith(
        "estimated harm in 2" if trigger == "estimated_harm" else "drift and estimated harm in 2"
    )
    assert "below 0.880 (test 0.900 - 0.02)" in job.reason
    path = settings.data_dir / "monitoring" / "fair.drift.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["job_id"] for line in lines] == [None, None, None, job.id]
    assert lines[3]["decision"] == f"retrain: {job.reason}"
    assert lines[2]["estimate"]["threshold"] == {"accuracy": pytest.approx(0.88)}
    labels = {"model": "fair", "version": version, "metric": "accuracy"}
    gauges = {
        name: prom.get_sample_value(f"trainsmart_estimated_metric{name}", labels)
        for name in ("", "_lower", "_upper", "_threshold")
    }
    assert gauges == {
        "": pytest.approx(lines[3]["estimate"]["metrics"]["accuracy"]["value"]),
        "_lower": pytest.approx(lines[3]["estimate"]["metrics"]["accuracy"]["lower"]),
        "_upper": pytest.approx(lines[3]["estimate"]["metrics"]["accuracy"]["upper"]),
        "_threshold": pytest.approx(0.88),
    }
    auc = prom.get_sample_value("trainsmart_estimated_metric", {**labels, "metric": "roc_auc"})
    assert auc is None or 0.0 <= auc <= 1.0  # constant scores: no ranking, maybe no AUC
