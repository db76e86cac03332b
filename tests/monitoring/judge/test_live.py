"""Live performance from feedback labels, per version, exported by the monitor."""

from __future__ import annotations

import pandas as pd
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.judge.live import live_metrics
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from tests.monitoring.conftest import MakeBundle
from tests.monitoring.test_monitor import RecordingRunner
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStore


def _serve(log: InputLog, version: str, classes: list[str], labels: list[str], tag: str) -> None:
    rows = [{"age": float(i)} for i in range(len(classes))]
    log.append(tag, "fair", version, rows, [{"class": c} for c in classes], [False] * len(rows))
    for i, label in enumerate(labels):
        log.add_feedback(tag, label, i)


def test_each_version_is_scored_on_its_own_latest_labelled_rows(input_log: InputLog) -> None:
    _serve(input_log, "v1", ["1", "0", "1", "1"], ["1", "0", "0", "1"], "a")  # 3 of 4 right
    _serve(input_log, "v2", ["0", "0"], ["1", "0"], "b")  # 1 of 2
    input_log.append("c", "fair", "v2", [{"age": 1.0}], [{"class": "1"}], [False])  # no label
    scores = {m.version: m for m in live_metrics(input_log.labelled("fair", 100), window=3)}
    assert scores["v1"].metric == "accuracy" and scores["v1"].rows == 3
    assert scores["v1"].value == 2 / 3  # its last 3 labelled rows: 0/0 right, 1/0 wrong, 1/1 right
    assert (scores["v2"].value, scores["v2"].rows) == (0.5, 2)


def test_regression_is_scored_by_mean_absolute_error(input_log: InputLog) -> None:
    rows = [{"x": 1.0}, {"x": 2.0}]
    input_log.append("r", "fair", "v1", rows, [{"value": 10.0}, {"value": 4.0}], [False, False])
    input_log.add_feedback("r", "12.0", 0)
    input_log.add_feedback("r", "5.0", 1)
    (score,) = live_metrics(input_log.labelled("fair", 10), window=10)
    assert (score.metric, score.value) == ("mae", 1.5)


def test_the_monitor_exports_the_live_metric(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    db: Database,
    fair_bundle: MakeBundle,
    unshifted: pd.DataFrame,
) -> None:
    fair_bundle()
    _serve(input_log, "v1", ["1", "0"], ["1", "1"], "m")
    prom = CollectorRegistry()
    jobs = JobStore(db)
    monitor = Monitor(
        settings.monitoring_scope(),
        registry,
        input_log,
        jobs,
        RecordingRunner(jobs),
        MonitorMetrics(prom),
    )
    monitor.check_once()
    labels = {"model": "fair", "version": "v1", "metric": "accuracy"}
    assert prom.get_sample_value("trainsmart_live_metric", labels) == 0.5
    assert (
        prom.get_sample_value("trainsmart_labelled_rows", {"model": "fair", "version": "v1"}) == 2
    )
