from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.drift.detector import DriftDetector
from monitoring.drift.results import DriftResult
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.records.journal import VersionCursor
from monitoring.runners.base import JobRunner
from monitoring.runners.process import pid_alive
from tests.monitoring.conftest import WINDOW_ROWS, MakeBundle, log_rows
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, Job, JobStatus, JobStore, open_database
from trainsmart.state.cursors import DriftCursors


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
        return Monitor(settings.monitoring_scope(), registry, input_log, jobs, runner, metrics)

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


def test_a_window_journaled_just_before_a_kill_is_not_checked_again(
    settings: Settings,
    make_monitor: Callable[[], Monitor],
    fair_bundle: Callable[[], str],
    input_log: InputLog,
    db: Database,
    unshifted: pd.DataFrame,
) -> None:
    """Killed between the window's journal line and its cursor: the next monitor adopts the
    line, so each window is in the journal once and the cursor counts it once."""
    version = fair_bundle()
    log_rows(input_log, version, unshifted.iloc[: 2 * WINDOW_ROWS], "rows")
    killed = make_monitor()

    def kill(version: str, cursor: VersionCursor) -> None:
        raise KeyboardInterrupt("stands for SIGKILL after the journal line, before the cursor")

    killed.journal.save = kill  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        killed.check_once()
    assert [r["window"] for r in journal(settings)] == [0]
    assert DriftCursors(db).get("fair", version) is None
    assert [r.index for r in make_monitor().check_once()] == [1]
    first, second = journal(settings)
    assert (first["window"], second["window"]) == (0, 1)
    assert second["first_id"] == first["last_id"] + 1
    cursor = {"after_id": second["last_id"], "windows": 2, "streak": 0}
    assert DriftCursors(db).get("fair", version) == cursor


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
    monitor = Monitor(
        off.monitoring_scope(),
        registry,
        input_log,
        jobs,
        runner,
        MonitorMetrics(CollectorRegistry()),
    )
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


def state(settings: Settings, version: str) -> dict[str, int]:
    """The monitor's saved cursor of ``version`` (in the state database)."""
    entry = DriftCursors(open_database(settings)).get("fair", version)
    assert entry is not None, f"no cursor saved for {version}"
    return entry


def test_a_window_the_detector_fails_on_is_skipped_not_retried(
    make_monitor: Callable[[], Monitor],
    fair_bundle: MakeBundle,
    input_log: InputLog,
    unshifted: pd.DataFrame,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_run = DriftDetector.run
    calls: list[int] = []

    def failing_once(self: DriftDetector, current: pd.DataFrame) -> DriftResult:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("evidently blew up")
        return real_run(self, current)

    monkeypatch.setattr(DriftDetector, "run", failing_once)
    version = fair_bundle()
    log_rows(input_log, version, unshifted.iloc[: 2 * WINDOW_ROWS], "clean")
    monitor = make_monitor()
    [window] = monitor.check_once()
    assert window.index == 1
    [skipped, checked] = journal(settings)
    assert skipped["window"] == 0 and checked["window"] == 1
    assert "could not be compared" in skipped["error"]
    assert "RuntimeError: evidently blew up" in skipped["error"]
    assert state(settings, version)["windows"] == 2
    assert monitor.check_once() == []
    assert len(calls) == 2


def test_a_malformed_logged_row_skips_its_window(
    make_monitor: Callable[[], Monitor],
    fair_bundle: MakeBundle,
    input_log: InputLog,
    unshifted: pd.DataFrame,
    settings: Settings,
) -> None:
    version = fair_bundle()
    bad = unshifted.iloc[:WINDOW_ROWS].astype(object)
    bad.iloc[0, bad.columns.get_loc("age")] = "forty"  # not a number: float() raises
    log_rows(input_log, version, bad, "bad")
    log_rows(input_log, version, unshifted.iloc[WINDOW_ROWS : 2 * WINDOW_ROWS], "clean")
    [window] = make_monitor().check_once()
    assert window.index == 1
    assert "ValueError" in journal(settings)[0]["error"]


def test_a_failing_job_store_does_not_stall_the_windows(
    make_monitor: Callable[[], Monitor],
    fair_bundle: MakeBundle,
    input_log: InputLog,
    shifted: pd.DataFrame,
    jobs: JobStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_create = jobs.create
    calls: list[int] = []

    def locked_once(model: str, reason: str, **details: Any) -> Job | None:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real_create(model, reason, **details)

    monkeypatch.setattr(jobs, "create", locked_once)
    version = fair_bundle()
    log_rows(input_log, version, shifted.iloc[: 3 * WINDOW_ROWS], "shifted")
    results = make_monitor().check_once()
    # window 1 reaches K=2 but cannot create its job; window 2 (streak 3) creates it
    [job] = jobs.list("fair")
    assert [(r.index, r.job_id) for r in results] == [(0, None), (1, None), (2, job.id)]
    assert [line["window"] for line in journal(settings)] == [0, 1, 2]
    assert state(settings, version) == {"after_id": results[-1].last_id, "windows": 3, "streak": 0}


def test_a_failing_runner_start_still_records_the_window(
    make_monitor: Callable[[], Monitor],
    fair_bundle: MakeBundle,
    input_log: InputLog,
    shifted: pd.DataFrame,
    jobs: JobStore,
    runner: RecordingRunner,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(job: Job) -> None:
        raise RuntimeError("no fork for you")

    monkeypatch.setattr(runner, "start", broken)
    version = fair_bundle()
    log_rows(input_log, version, shifted.iloc[: 2 * WINDOW_ROWS], "shifted")
    results = make_monitor().check_once()
    [job] = jobs.list("fair")
    assert [r.job_id for r in results] == [None, job.id]
    assert job.status == JobStatus.QUEUED  # failed by the reaper after job_timeout_s
    assert state(settings, version)["windows"] == 2


def test_a_retried_window_does_not_count_twice(
    make_monitor: Callable[[], Monitor],
    fair_bundle: MakeBundle,
    input_log: InputLog,
    shifted: pd.DataFrame,
    jobs: JobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A check that fails mid-window (here the journal) is retried by run(); the
    retried window must not add to the streak again (K=2, one drifted window)."""
    version = fair_bundle()
    log_rows(input_log, version, shifted.iloc[:WINDOW_ROWS], "shifted")
    monitor = make_monitor()
    real_append = monitor.journal.append
    calls: list[int] = []

    def full_once(record: dict[str, Any]) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        real_append(record)

    monkeypatch.setattr(monitor.journal, "append", full_once)
    with pytest.raises(OSError):
        monitor.check_once()
    [window] = monitor.check_once()
    assert window.index == 0 and window.drift.dataset_drift
    assert monitor.policy.streak == 1
    assert jobs.list("fair") == []


@pytest.fixture
def sleeper() -> Iterator[Callable[[bool], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(own_session: bool) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            start_new_session=own_session,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_running_job_past_its_timeout_is_killed_even_when_nobody_watches_it(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    runner: RecordingRunner,
    prom: CollectorRegistry,
    sleeper: Callable[[bool], subprocess.Popen[bytes]],
) -> None:
    """Left by a restarted monitor: the pid is alive, so only the age can fail it."""
    process = sleeper(True)  # jobs run in their own session: pgid == pid
    job = jobs.create("fair", "left by a restarted monitor")
    assert job is not None
    jobs.mark_running(job.id, pid=process.pid, log_path="-")
    metrics = MonitorMetrics(prom)
    Monitor(settings.monitoring_scope(), registry, input_log, jobs, runner, metrics).check_once()
    assert jobs.get(job.id).status == JobStatus.RUNNING  # young: left alone

    def later() -> float:
        return time.time() + settings.monitoring.job_timeout_s + 1

    Monitor(
        settings.monitoring_scope(), registry, input_log, jobs, runner, metrics, clock=later
    ).check_once()
    failed = jobs.get(job.id)
    assert failed.status == JobStatus.FAILED and failed.result is not None
    assert "job_timeout_s=60" in failed.result["error"]
    assert f"process group {process.pid} was killed" in failed.result["error"]
    assert process.wait(timeout=10) < 0
    assert jobs.in_flight("fair") is None  # retrains can start again
    assert prom.get_sample_value("trainsmart_retrain_jobs_total", {"status": "failed"}) == 1


def test_a_reused_pid_is_not_killed_but_its_job_is_failed(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    runner: RecordingRunner,
    sleeper: Callable[[bool], subprocess.Popen[bytes]],
) -> None:
    stranger = sleeper(False)  # not a group leader: not a process our runner started
    job = jobs.create("fair", "its pid now belongs to another process")
    assert job is not None
    jobs.mark_running(job.id, pid=stranger.pid, log_path="-")

    def later() -> float:
        return time.time() + settings.monitoring.job_timeout_s + 1

    metrics = MonitorMetrics(CollectorRegistry())
    Monitor(
        settings.monitoring_scope(), registry, input_log, jobs, runner, metrics, clock=later
    ).check_once()
    failed = jobs.get(job.id)
    assert failed.status == JobStatus.FAILED and failed.result is not None
    assert "was killed" not in failed.result["error"]
    assert stranger.poll() is None and pid_alive(stranger.pid)


def test_after_a_promotion_windows_compare_with_the_new_reference(
    make_monitor: Callable[[], Monitor],
    fair_bundle: MakeBundle,
    registry: Registry,
    input_log: InputLog,
    reference: pd.DataFrame,
    shifted: pd.DataFrame,
) -> None:
    v1 = fair_bundle(reference=reference, promote=False)
    v2 = fair_bundle(reference=shifted.iloc[:600], promote=False)
    registry.promote("fair", v1, reason="test")
    monitor = make_monitor()
    log_rows(input_log, v1, shifted.iloc[600 : 600 + WINDOW_ROWS], "old")
    [old] = monitor.check_once()
    assert (old.version, old.drift.dataset_drift) == (v1, True)
    registry.promote("fair", v2, reason="retrained on the shifted population")
    log_rows(input_log, v2, shifted.iloc[600 + WINDOW_ROWS : 600 + 2 * WINDOW_ROWS], "new")
    [new] = monitor.check_once()
    assert (new.version, new.index, new.drift.dataset_drift) == (v2, 0, False)


def test_a_monitor_on_another_machine_resumes_after_the_windows_checked_here(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    runner: RecordingRunner,
    fair_bundle: MakeBundle,
    unshifted: pd.DataFrame,
    tmp_path: Path,
) -> None:
    version = fair_bundle()
    log_rows(input_log, version, unshifted.iloc[: 2 * WINDOW_ROWS], "first")
    here = Monitor(
        settings.monitoring_scope(),
        registry,
        input_log,
        jobs,
        runner,
        MonitorMetrics(CollectorRegistry()),
    )
    assert [r.index for r in here.check_once()] == [0, 1]
    # a standby elsewhere: its own data_dir (no journal, no files), the same state database
    elsewhere = settings.model_copy(update={"data_dir": tmp_path / "another-machine"})
    there = Monitor(
        elsewhere.monitoring_scope(),
        registry,
        input_log,
        jobs,
        runner,
        MonitorMetrics(CollectorRegistry()),
    )
    log_rows(input_log, version, unshifted.iloc[2 * WINDOW_ROWS : 3 * WINDOW_ROWS], "second")
    [window] = there.check_once()
    assert window.index == 2 and window.first_id > here.cursor.after_id


def test_a_cursor_file_of_an_older_release_is_adopted_once(
    make_monitor: Callable[[], Monitor],
    fair_bundle: MakeBundle,
    input_log: InputLog,
    unshifted: pd.DataFrame,
    settings: Settings,
) -> None:
    version = fair_bundle()
    log_rows(input_log, version, unshifted.iloc[: 3 * WINDOW_ROWS], "rows")
    first_two = input_log.window("fair", version, after_id=0, limit=2 * WINDOW_ROWS)
    folder = settings.data_dir / "monitoring"
    folder.mkdir(parents=True)
    old = {version: {"after_id": first_two[-1].id, "windows": 2, "streak": 0}}
    (folder / "fair.state.json").write_text(json.dumps(old))
    [window] = make_monitor().check_once()  # windows 0 and 1 were checked by the old release
    assert window.index == 2
    assert state(settings, version)["windows"] == 3
