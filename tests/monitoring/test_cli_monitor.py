"""``trainsmart monitor``: what the command and its wiring (``apps/monitor.py``) do around
Monitor.run."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator

import pytest

import monitoring.runners.process
from apps.cli.context import AppContext
from apps.cli.monitor import run_monitor
from apps.monitor import MonitorProcess
from apps.settings import Settings
from monitoring.monitor import Monitor
from trainsmart.registry import Registry
from trainsmart.state import Database, JobStatus
from trainsmart.state.leases import Lease


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """run_monitor installs SIGTERM/SIGINT handlers; put pytest's back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_stopping_the_monitor_stops_its_retrain_job(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, keep_signal_handlers: None
) -> None:
    """Jobs run in their own session: only the monitor itself can stop them on exit."""
    settings = settings.model_copy(
        update={"monitoring": settings.monitoring.model_copy(update={"port": 0})}
    )
    app = AppContext()
    app.settings = settings  # type: ignore[misc]
    monkeypatch.setattr(
        monitoring.runners.process,
        "default_command",
        lambda: [sys.executable, "-c", "import time; time.sleep(60)"],
    )
    started: list[int] = []

    def run_starts_a_job_then_stops(
        self: Monitor, stop: threading.Event, leadership: object = None
    ) -> None:
        job = self.jobs.create(self.model, "drift")
        assert job is not None
        self.runner.start(job)
        started.append(job.id)  # then SIGTERM: run() returns

    monkeypatch.setattr(Monitor, "run", run_starts_a_job_then_stops)
    run_monitor(app, once=False)
    [job_id] = started
    job = app.jobs.get(job_id)
    assert job.status == JobStatus.FAILED and job.result is not None
    assert "monitor stopped while the job ran" in job.result["error"]
    assert job.pid is not None and not monitoring.runners.process.pid_alive(job.pid)


def test_the_process_gets_the_monitors_scope_with_the_retrain_limits(
    settings: Settings, db: Database, registry: Registry
) -> None:
    settings = settings.model_copy(deep=True)
    settings.training.retrain.recent_rows = 123
    settings.training.retrain.shadow_rows = 45
    process = MonitorProcess.build(settings, db, registry)
    assert process.scope.retrain.recent_rows == 123
    assert process.monitor.trigger.recent_rows == 123
    assert process.monitor.supervisor.shadow_gate.rows == 45
    assert process.monitor.journal.folder == settings.paths.monitoring


def test_one_check_checks_nothing_while_another_monitor_leads(
    settings: Settings, db: Database, registry: Registry
) -> None:
    process = MonitorProcess.build(settings, db, registry)
    theirs = Lease(db, f"monitor:{settings.model_name}", "another-monitor", ttl_s=60)
    assert theirs.acquire()
    assert process.check_once() is None
    theirs.release()
    assert process.check_once() == []  # nothing in production: nothing to check
