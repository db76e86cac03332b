"""The retrain rules every automatic trigger shares (cooldown, single flight, labels,
retrain_enabled), the drift trigger waiting for labels, and the schedule; on a real SQLite
state and the real monitor."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.retrain.policy import RetrainPolicy
from monitoring.retrain.triggers import RetrainTrigger
from monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import WINDOW_ROWS, MakeBundle, log_rows
from tests.monitoring.test_monitor import RecordingRunner
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStatus, JobStore, Trigger


def with_monitoring(settings: Settings, **changes: Any) -> Settings:
    monitoring = MonitoringSettings(**{**dict(settings.monitoring), **changes})
    return settings.model_copy(update={"monitoring": monitoring})


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


class Clock:
    """Wall time plus an offset the test moves (job rows are stamped with time.time())."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def make_trigger(
    settings: Settings, registry: Registry, input_log: InputLog, jobs: JobStore, clock: Clock
) -> RetrainTrigger:
    m = settings.monitoring
    policy = RetrainPolicy(m.consecutive_windows, m.cooldown_s, m.min_labelled_rows or 0)
    return RetrainTrigger(
        settings.monitoring_scope(), registry, input_log, jobs, policy, clock=clock
    )


def test_single_flight_then_cooldown_then_allowed(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    fair_bundle: MakeBundle,
) -> None:
    fair_bundle()
    clock = Clock()
    trigger = make_trigger(settings, registry, input_log, jobs, clock)
    first = trigger.request(Trigger.DRIFT, "drift in 2 windows", actor="monitor")
    assert first.job is not None
    assert (first.job.trigger, first.job.actor, first.job.reason) == (
        Trigger.DRIFT,
        "monitor",
        "drift in 2 windows",
    )
    assert first.job.champion_version == "v1"
    busy = trigger.request(Trigger.SCHEDULE, "schedule", actor="monitor")
    assert (
        busy.job is None and f"running for this model (job {first.job.id}, queued)" in busy.reason
    )
    jobs.finish(first.job.id, JobStatus.REJECTED, {"reason": "lost"})
    cooling = trigger.request(Trigger.WEBHOOK, "alert", actor="alertmanager")
    assert cooling.job is None and "waits 3600s between jobs" in cooling.reason
    clock.offset = 3601.0
    later = trigger.request(Trigger.WEBHOOK, "alert", actor="alertmanager")
    assert later.job is not None and later.job.trigger == Trigger.WEBHOOK
    actions = [(a.action, a.actor) for a in registry.audit("fair", action="retrain-requested")]
    assert actions == [("retrain-requested", "alertmanager"), ("retrain-requested", "monitor")]


def test_retrain_disabled_starts_nothing(
    settings: Settings, registry: Registry, input_log: InputLog, jobs: JobStore
) -> None:
    off = with_monitoring(settings, retrain_enabled=False)
    decision = make_trigger(off, registry, input_log, jobs, Clock()).request(
        Trigger.SCHEDULE, "schedule", actor="monitor"
    )
    assert decision.job is None and "retrain_enabled is off" in decision.reason
    assert jobs.list() == []


def test_only_usable_labels_count(
    settings: Settings, registry: Registry, input_log: InputLog, jobs: JobStore
) -> None:
    """A regression label that is not a number cannot be learned from: not counted."""
    needs_two = with_monitoring(settings, min_labelled_rows=2)
    trigger = make_trigger(needs_two, registry, input_log, jobs, Clock())
    for i, label in enumerate(["151.0", "high", "nan"]):
        input_log.append(f"r{i}", "fair", "v1", [{"age": 30.0}], [{"value": 140.0}], [False])
        input_log.add_feedback(f"r{i}", label)
    assert trigger.labelled_rows() == 1
    refused = trigger.request(Trigger.DRIFT, "drift", actor="monitor")
    assert refused.reason.startswith("waiting for labels: 1 labelled rows")


def label_rows(input_log: InputLog, version: str, tag: str, n: int) -> None:
    """Feedback for the first ``n`` rows that ``log_rows(..., tag)`` logged."""
    for i in range(n):
        input_log.add_feedback(f"{tag}-{version}", "1", row_index=i)


def test_drift_waits_for_labels_then_starts(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    fair_bundle: MakeBundle,
    shifted: pd.DataFrame,
) -> None:
    version = fair_bundle()
    needs_labels = with_monitoring(settings, min_labelled_rows=50)
    runner = RecordingRunner(jobs)
    metrics = MonitorMetrics(CollectorRegistry())
    monitor = Monitor(needs_labels.monitoring_scope(), registry, input_log, jobs, runner, metrics)
    log_rows(input_log, version, shifted.iloc[: 2 * WINDOW_ROWS], "first")
    results = monitor.check_once()
    assert [r.job_id for r in results] == [None, None]
    assert results[1].retrain is not None
    assert results[1].retrain.startswith("waiting for labels: 0 labelled rows")
    assert results[1].to_dict()["retrain"] == results[1].retrain
    assert jobs.list() == []
    label_rows(input_log, version, "first", 50)
    log_rows(input_log, version, shifted.iloc[2 * WINDOW_ROWS : 3 * WINDOW_ROWS], "more")
    [third] = monitor.check_once()  # the streak was kept: the third drifted window starts it
    assert third.job_id is not None and third.retrain is not None
    assert third.retrain.startswith("dataset drift in 3 consecutive windows of v1")
    assert [j.id for j in runner.started] == [third.job_id]


def scheduled_monitor(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    clock: Callable[[], float],
) -> tuple[Monitor, RecordingRunner]:
    every = with_monitoring(settings, retrain_every_s=100.0, cooldown_s=0.0)
    runner = RecordingRunner(jobs)
    metrics = MonitorMetrics(CollectorRegistry())
    return Monitor(
        every.monitoring_scope(), registry, input_log, jobs, runner, metrics, clock=clock
    ), runner


def test_the_schedule_starts_a_job_every_retrain_every_s(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    fair_bundle: MakeBundle,
) -> None:
    fair_bundle()
    clock = Clock()
    monitor, runner = scheduled_monitor(settings, registry, input_log, jobs, clock)
    monitor.check_once()
    assert jobs.list() == []  # not due: the monitor just started
    clock.offset = 101.0
    monitor.check_once()
    [job] = jobs.list()
    assert (job.trigger, job.actor, job.status) == (Trigger.SCHEDULE, "monitor", JobStatus.RUNNING)
    assert "since the monitor started (monitoring.retrain_every_s=100)" in job.reason
    assert [j.id for j in runner.started] == [job.id]
    jobs.finish(job.id, JobStatus.REJECTED, {"reason": "lost"})
    clock.offset = 0.0
    monitor.check_once()
    assert len(jobs.list()) == 1  # the last job is younger than retrain_every_s
    clock.offset = 101.0
    monitor.check_once()
    assert len(jobs.list()) == 2 and f"since job {job.id} was created" in jobs.list()[0].reason


def test_without_a_production_version_the_schedule_waits(
    settings: Settings, registry: Registry, input_log: InputLog, jobs: JobStore
) -> None:
    clock = Clock()
    monitor, _ = scheduled_monitor(settings, registry, input_log, jobs, clock)
    clock.offset = 1000.0
    monitor.check_once()
    assert jobs.list() == []
