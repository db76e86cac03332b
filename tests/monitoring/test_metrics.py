from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from monitoring.drift import DriftResult, FeatureDrift
from monitoring.metrics import MonitorMetrics
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
