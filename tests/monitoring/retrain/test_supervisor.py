"""A monitor restart: a running job whose process is gone is failed with the reason, a live
one is left to finish and never duplicated, a queued one is started (or failed when
stale); with the real subprocess runner and a real SQLite state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.runners.process import SubprocessJobRunner
from tests.monitoring.conftest import WINDOW_ROWS, MakeBundle, log_rows
from tests.monitoring.test_monitor import RecordingRunner
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStatus, JobStore

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


@pytest.fixture
def runners() -> Iterator[list[SubprocessJobRunner]]:
    made: list[SubprocessJobRunner] = []
    yield made
    for runner in made:
        runner.stop()


def monitor_with(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    runners: list[SubprocessJobRunner],
) -> Monitor:
    """A monitor process, as ``trainsmart monitor`` builds it (jobs sleep for a minute)."""
    runner = SubprocessJobRunner(settings.monitoring_scope(), jobs, command=SLEEP)
    runners.append(runner)
    return Monitor(
        settings.monitoring_scope(),
        registry,
        input_log,
        jobs,
        runner,
        MonitorMetrics(CollectorRegistry()),
    )


def test_a_running_job_with_a_dead_pid_is_failed_on_start(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    runners: list[SubprocessJobRunner],
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    job = jobs.create("fair", "drift, before the monitor died")
    assert job is not None
    jobs.mark_running(job.id, pid=gone.pid, log_path="-")
    monitor_with(settings, registry, input_log, jobs, runners).check_once()
    failed = jobs.get(job.id)
    assert failed.status == JobStatus.FAILED and failed.result is not None
    assert f"its process {gone.pid} is gone without an outcome" in failed.result["error"]
    assert jobs.in_flight("fair") is None
    audit = registry.audit("fair", action="retrain-failed")[0]
    assert f"job {job.id}: its process {gone.pid} is gone" in audit.reason


def test_a_live_job_survives_a_restart_and_is_not_duplicated(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    runners: list[SubprocessJobRunner],
    fair_bundle: MakeBundle,
    shifted: pd.DataFrame,
) -> None:
    version = fair_bundle()
    log_rows(input_log, version, shifted.iloc[: 2 * WINDOW_ROWS], "first")
    first = monitor_with(settings, registry, input_log, jobs, runners)
    [_, fired] = first.check_once()
    assert fired.job_id is not None
    job = jobs.get(fired.job_id)
    assert job.status == JobStatus.RUNNING and job.pid is not None
    # the monitor restarts (its job runs on in its own session); drift goes on
    restarted = monitor_with(settings, registry, input_log, jobs, runners)
    log_rows(input_log, version, shifted.iloc[2 * WINDOW_ROWS : 4 * WINDOW_ROWS], "again")
    results = restarted.check_once()
    assert [r.job_id for r in results] == [None, None]
    assert results[1].retrain is not None
    assert f"already queued or running for this model (job {job.id}, running)" in results[1].retrain
    assert [j.id for j in jobs.list("fair")] == [job.id]
    assert jobs.get(job.id).status == JobStatus.RUNNING
    # then its process dies without an outcome: the restarted monitor fails it
    os.killpg(job.pid, signal.SIGKILL)
    os.waitpid(job.pid, 0)  # what init does for the child of a dead monitor
    runners.remove(first.runner)  # type: ignore[arg-type]  # reaped: nothing left to stop
    restarted.check_once()
    failed = jobs.get(job.id)
    assert failed.status == JobStatus.FAILED and failed.result is not None
    assert f"its process {job.pid} is gone" in failed.result["error"]


def test_a_queued_job_is_started_by_the_next_monitor(
    settings: Settings, registry: Registry, input_log: InputLog, jobs: JobStore
) -> None:
    job = jobs.create("fair", "queued by the webhook before the monitor stopped")
    assert job is not None
    runner = RecordingRunner(jobs)
    metrics = MonitorMetrics(CollectorRegistry())
    Monitor(settings.monitoring_scope(), registry, input_log, jobs, runner, metrics).check_once()
    assert [j.id for j in runner.started] == [job.id]
    assert jobs.get(job.id).status == JobStatus.RUNNING


def test_a_stale_queued_job_is_failed(
    settings: Settings, registry: Registry, input_log: InputLog, jobs: JobStore
) -> None:
    job = jobs.create("fair", "queued long ago")
    assert job is not None
    runner = RecordingRunner(jobs)

    def later() -> float:
        return time.time() + settings.monitoring.job_timeout_s + 1

    metrics = MonitorMetrics(CollectorRegistry())
    Monitor(
        settings.monitoring_scope(), registry, input_log, jobs, runner, metrics, clock=later
    ).check_once()
    failed = jobs.get(job.id)
    assert runner.started == [] and failed.status == JobStatus.FAILED
    assert failed.result == {"error": "queued for more than job_timeout_s=60s"}


def test_a_pid_recorded_on_another_machine_is_not_taken_for_a_dead_process(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    db: Database,
    runners: list[SubprocessJobRunner],
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    job = jobs.create("fair", "manual, on a workstation", running_pid=gone.pid)
    assert job is not None and job.host is not None  # this machine, recorded with the pid
    with db.transaction() as conn:  # as if `trainsmart retrain` ran on another machine
        conn.execute("UPDATE jobs SET host = ? WHERE id = ?", ("workstation-7", job.id))
    monitor_with(settings, registry, input_log, jobs, runners).check_once()
    assert jobs.get(job.id).status == JobStatus.RUNNING  # left to record its own outcome
