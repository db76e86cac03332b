from __future__ import annotations

import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitoring.drift.results import DriftResult, FeatureDrift
from monitoring.metrics import WEBHOOK_RESULTS, MonitorMetrics
from tests.services import require_binary
from trainsmart.state import JobStatus


def result(dataset_drift: bool) -> DriftResult:
    return DriftResult(
        rows=300,
        dataset_drift=dataset_drift,
        drift_share=0.625 if dataset_drift else 0.0,
        drifted_count=5 if dataset_drift else 0,
        features={"age": FeatureDrift("K-S p_value", 1e-9, 0.05, True)},
    )


def test_observe_sets_every_gauge_and_counts_checks() -> None:
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    metrics.observe("fair", result(True), now=1234.0)
    metrics.observe("fair", result(False), now=1300.0)
    model = {"model": "fair"}
    assert registry.get_sample_value("trainsmart_drift_share", model) == 0.0
    assert registry.get_sample_value("trainsmart_dataset_drift", model) == 0.0
    assert registry.get_sample_value("trainsmart_drift_window_rows", model) == 300
    assert (
        registry.get_sample_value("trainsmart_drift_last_check_timestamp_seconds", model) == 1300.0
    )
    assert registry.get_sample_value("trainsmart_drift_checks_total", model) == 2
    assert registry.get_sample_value(
        "trainsmart_feature_drift_score", {"model": "fair", "feature": "age"}
    ) == pytest.approx(1e-9)


def test_job_transitions_are_counted_per_status() -> None:
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    metrics.job_transition(JobStatus.QUEUED)
    metrics.job_transition("failed")
    assert registry.get_sample_value("trainsmart_retrain_jobs_total", {"status": "queued"}) == 1
    assert registry.get_sample_value("trainsmart_retrain_jobs_total", {"status": "failed"}) == 1
    assert registry.get_sample_value("trainsmart_retrain_jobs_total", {"status": "succeeded"}) == 0


def test_two_monitors_on_fresh_registries_do_not_collide() -> None:
    MonitorMetrics(CollectorRegistry())
    MonitorMetrics(CollectorRegistry())


def test_retrain_jobs_by_status_promotion_rollbacks_and_webhook_calls() -> None:
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    gauge = "trainsmart_retrain_jobs_by_status"
    assert registry.get_sample_value(gauge, {"status": "running"}) == 0
    metrics.job_counts({"running": 1, "failed": 3})
    metrics.job_counts({"succeeded": 2, "failed": 3})  # a status that has no job is 0 again
    jobs = {s.value: registry.get_sample_value(gauge, {"status": s.value}) for s in JobStatus}
    assert jobs == {"queued": 0, "running": 0, "succeeded": 2, "rejected": 0, "failed": 3}
    metrics.promoted_at("fair", 1234.5)
    assert (
        registry.get_sample_value("trainsmart_last_promotion_timestamp_seconds", {"model": "fair"})
        == 1234.5
    )
    metrics.rollback("fair")
    assert registry.get_sample_value("trainsmart_rollbacks_total", {"model": "fair"}) == 1
    metrics.webhook_request("started")
    for result in WEBHOOK_RESULTS:
        expected = 1 if result == "started" else 0
        got = registry.get_sample_value("trainsmart_webhook_requests_total", {"result": result})
        assert got == expected, result


def test_the_exposition_passes_promtool() -> None:
    promtool = require_binary("promtool", apt_package="prometheus")
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    metrics.observe("fair", result(True), now=1234.0)
    metrics.job_transition(JobStatus.QUEUED)
    metrics.job_counts({"queued": 1})
    metrics.promoted_at("fair", 1234.0)
    metrics.rollback("fair")
    metrics.webhook_request("duplicate")
    text = generate_latest(registry)
    for family in (
        "trainsmart_retrain_jobs_by_status gauge",
        "trainsmart_retrain_jobs_total counter",
        "trainsmart_last_promotion_timestamp_seconds gauge",
        "trainsmart_rollbacks_total counter",
        "trainsmart_webhook_requests_total counter",
    ):
        assert f"# TYPE {family}".encode() in text, family
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert not check.stdout.strip() and not check.stderr.strip(), "promtool lint warnings"
