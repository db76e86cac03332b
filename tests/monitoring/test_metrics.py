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
    age = {"model": "fair", "version": "", "feature": "age", "method": "K-S p_value"}
    assert registry.get_sample_value("trainsmart_feature_drift_score", age) == pytest.approx(1e-9)


def window(version_drift: dict[str, FeatureDrift], weighted: float | None) -> DriftResult:
    drifted = sum(f.drifted for f in version_drift.values())
    return DriftResult(
        rows=300,
        dataset_drift=drifted * 2 >= len(version_drift),
        drift_share=drifted / len(version_drift),
        drifted_count=drifted,
        features=version_drift,
        weighted_drift_share=weighted,
    )


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.labels[k] for k in ("version", "feature", "method") if k in s.labels): s.value
        for m in registry.collect()
        if m.name == name
        for s in m.samples
    }


def test_feature_gauges_carry_version_and_method_and_a_0_1_drifted_flag() -> None:
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    features = {
        "age": FeatureDrift("K-S p_value", 0.001, 0.05, True),
        "educ": FeatureDrift("K-S p_value", 0.4, 0.05, False),
        "occupation": FeatureDrift("psi", 0.3, 0.1, True),
        "children": FeatureDrift("wasserstein", 0.02, 0.1, False),
    }
    metrics.observe("fair", window(features, 0.8), now=1.0, version="v3")
    assert samples(registry, "trainsmart_feature_drifted") == {
        ("v3", "age", "K-S p_value"): 1.0,
        ("v3", "educ", "K-S p_value"): 0.0,
        ("v3", "occupation", "psi"): 1.0,
        ("v3", "children", "wasserstein"): 0.0,
    }
    assert samples(registry, "trainsmart_feature_drift_score")[("v3", "occupation", "psi")] == 0.3
    assert samples(registry, "trainsmart_feature_drift_threshold")[
        ("v3", "age", "K-S p_value")
    ] == (0.05)
    severity = samples(registry, "trainsmart_feature_drift_severity")
    # drifted features sort above calm ones whatever their method's direction
    ranked = sorted(severity, key=severity.__getitem__, reverse=True)
    assert [f for _, f, _ in ranked[:2]] == ["age", "occupation"]
    assert all(severity[k] >= 1.0 for k in ranked[:2])
    assert all(severity[k] < 1.0 for k in ranked[2:])
    assert registry.get_sample_value(
        "trainsmart_weighted_drift_share", {"model": "fair", "version": "v3"}
    ) == pytest.approx(0.8)


def test_a_new_version_or_method_replaces_the_old_label_sets() -> None:
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    old = {"age": FeatureDrift("K-S p_value", 0.001, 0.05, True)}
    metrics.observe("fair", window(old, 1.0), version="v1")
    metrics.observe("other", window(old, 0.5), version="v9")  # another model is left alone
    new = {"age": FeatureDrift("psi", 0.05, 0.1, False)}
    metrics.observe("fair", window(new, None), version="v2")  # v2 has no importance
    for name in (
        "trainsmart_feature_drift_score",
        "trainsmart_feature_drift_threshold",
        "trainsmart_feature_drift_severity",
        "trainsmart_feature_drifted",
    ):
        assert set(samples(registry, name)) == {("v9", "age", "K-S p_value"), ("v2", "age", "psi")}
    assert samples(registry, "trainsmart_weighted_drift_share") == {("v9",): 0.5}
    metrics.observe("fair", window(new, 0.25), version="v2")
    assert samples(registry, "trainsmart_weighted_drift_share") == {("v9",): 0.5, ("v2",): 0.25}


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
    metrics.observe("fair", window(result(True).features, 0.5), now=1234.0, version="v1")
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
        "trainsmart_feature_drifted gauge",
        "trainsmart_feature_drift_severity gauge",
        "trainsmart_weighted_drift_share gauge",
    ):
        assert f"# TYPE {family}".encode() in text, family
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert not check.stdout.strip() and not check.stderr.strip(), "promtool lint warnings"
