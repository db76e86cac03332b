from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.runner import JobRunner
from tests.monitoring.conftest import WINDOW_ROWS, log_rows
from trainsmart.registry import Registry
from trainsmart.settings import Settings
from trainsmart.state import Database, InputLog, Job, JobStatus, JobStore


class RecordingRunner(JobRunner):
    """Records started jobs and marks them running; finishes nothing by itself."""

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs
        self.started: list[Job] = []
        self.to_report: list[Job] = []

    def start(self, job: Job) -> None:
        self.jobs.mark_running(job.id, pid=0, log_path="-")
        self.started.append(job)

    def poll(self) -> list[Job]:
        done, self.to_report = self.to_report, []
        return done

    def tracks(self, job_id: int) -> bool:
        return any(j.id == job_id for j in self.started)


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


@pytest.fixture
def runner(jobs: JobStore) -> RecordingRunner:
    return RecordingRunner(jobs)


@pytest.fixture
def prom() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_monitor(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    runner: RecordingRunner,
    prom: CollectorRegistry,
) -> Callable[[], Monitor]:
    metrics = MonitorMetrics(prom)  # one set of metrics, shared by restarted monitors

    def make() -> Monitor:
        return Monitor(settings, registry, input_log, jobs, runner, metrics)

    return make


def journal(settings: Settings) -> list[dict[str, Any]]:
    path = settings.data_dir / "monitoring" / "fair.drift.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_nothing_in_production_is_nothing_to_do(make_monitor: Callable[[], Monitor]) -> None:
    assert make_monitor().check_once() == []


def test_k_drifted_windows_create_exactly_one_job(
    make_monitor: Callable[[], Monitor],
    fair_bundle: Callable[[], str],
    input_log: InputLog,
    shifted: pd.DataFrame,
    jobs: JobStore,
    runner: RecordingRunner,
    prom: CollectorRegistry,
    settings: Settings,
) -> None:
    version = fair_bundle()
    log_rows(input_log, version, shifted.iloc[: 3 * WINDOW_ROWS + 50], "shifted")
    results = make_monitor().check_once()
    assert [r.drift.dataset_drift for r in results] == [True, True, True]
    assert [r.job_id for r in results][:1] == [None]
    assert len(runner.started) == 1
    [job] = jobs.list("fair")
    assert results[1].job_id == job.id and results[2].job_id is None
    assert job.status == JobStatus.RUNNING
    assert "consecutive windows of v1" in job.reason
    lines = journal(settings)
    assert [line["window"] for line in lines] == [0, 1, 2]
    assert lines[1]["job_id"] == job.id
    assert lines[0]["result"]["features"]["age"]["drifted"] is True
    assert prom.get_sample_value("trainsmart_dataset_drift", {"model": "fair"}) == 1.0
    assert prom.get_sample_value("trainsmart_drift_checks_total", {"model": "fair"}) == 3
    for status in ("queued", "running"):
        assert prom.get_sample_value("trainsmart_retrain_jobs_total", {"status": status}) == 1


def test_a_stream_without_drift_creates_no_job(
    make_monitor: Callable[[], Monitor],
    fair_bundle: Callable[[], str],
    input_log: InputLog,
    unshifted: pd.DataFrame,
    jobs: JobStore,
    prom: CollectorRegistry,
) -> None:
    version = fair_bundle()
    log_rows(input_log, version, unshifted.iloc[: 2 * WINDOW_ROWS], "clean")
    results = make_monitor().check_once()
    assert [r.drift.dataset_drift for r in results] == [False, False]
    assert jobs.list("fair") == []
    assert prom.get_sample_value("trainsmart_dataset_drift", {"model": "fair"}) == 0.0


def test_the_cursor_survives_a_restart(
    make_monitor: Callable[[], Monitor],
    fair_bundle: Callable[[], str],
    input_log: InputLog,
    unshifted: pd.DataFrame,
) -> None:
    version = fair_bundle()
    log_rows(input_log, version, unshifted.iloc[: WINDOW_ROWS + 10], "first")
    [first] = make_monitor().check_once()
    assert make_monitor().check_once() == []
    log_rows(input_log, version, unshifted.iloc[WINDOW_ROWS + 10 : 2 * WINDOW_ROWS + 20], "more")
    [second] = make_monitor().check_once()
    assert second.index == 1
    assert second.first_id == first.last_id + 1


def test_windows_hold_only_the_production_version(
    make_monitor: Callable[[], Monitor],
    fair_bundle: Callable[[], str],
    input_log: InputLog,
    shifted: pd.DataFrame,
    unshifted: pd.DataFrame,
    runner: RecordingRunner,
) -> None:
    v1 = fair_bundle()
    monitor = make_monitor()
    log_rows(input_log, v1, shifted.iloc[:WINDOW_ROWS], "old")
    assert [r.drift.dataset_drift for r in monitor.check_once()] == [True]
    v2 = fair_bundle()
    log_rows(input_log, v2, shifted.iloc[WINDOW_ROWS : 2 * WINDOW_ROWS], "new")
    [window] = monitor.check_once()
    assert (window.version, window.index, window.job_id) == (v2, 0, None)
    assert runner.started == []  # v1's drifted window does not count for v2


def test_a_window_that_cannot_be_compared_is_skipped(
    make_monitor: Callable[[], Monitor],
    fair_bundle: Callable[[], str],
    input_log: InputLog,
    unshifted: pd.DataFrame,
    settings: Settings,
) -> None:
    version = fair_bundle()
    empty = unshifted.iloc[:WINDOW_ROWS].copy()
    empty[:] = float("nan")  # every feature null: nothing Evidently can compare
    log_rows(input_log, version, empty, "nulls")
    log_rows(input_log, version, unshifted.iloc[:WINDOW_ROWS], "clean")
    [window] = make_monitor().check_once()
    assert window.index == 1
    assert "every feature of the window is null" in journal(settings)[0]["error"]


def test_retrain_disabled_only_measures(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    runner: RecordingRunner,
    fair_bundle: Callable[[], str],
    shifted: pd.DataFrame,
) -> None:
    off = settings.model_copy(
        update={"monitoring": settings.monitoring.model_copy(update={"retrain_enabled": False})}
    )
    version = fair_bundle()
    log_rows(input_log, version, shifted.iloc[: 2 * WINDOW_ROWS], "off")
    monitor = Monitor(off, registry, input_log, jobs, runner, MonitorMetrics(CollectorRegistry()))
    assert len(monitor.check_once()) == 2
    assert jobs.list("fair") == []


def test_an_orphaned_running_job_is_failed(
    make_monitor: Callable[[], Monitor],
    jobs: JobStore,
    prom: CollectorRegistry,
) -> None:
    job = jobs.create("fair", "left by a dead monitor")
    assert job is not None
    jobs.mark_running(job.id, pid=2**22 + 12345, log_path="-")
    make_monitor().check_once()
    assert jobs.get(job.id).status == JobStatus.FAILED
    assert prom.get_sample_value("trainsmart_retrain_jobs_total", {"status": "failed"}) == 1


def test_run_survives_a_failing_check(make_monitor: Callable[[], Monitor]) -> None:
    monitor = make_monitor()
    calls: list[int] = []

    def failing() -> list[object]:
        calls.append(1)
        if len(calls) >= 3:
            stop.set()
        raise RuntimeError("database is gone")

    stop = threading.Event()
    monitor.check_once = failing  # type: ignore[method-assign,assignment]
    thread = threading.Thread(target=monitor.run, args=(stop,))
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(calls) == 3
