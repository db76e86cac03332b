"""``trainsmart monitor``: what the command does around Monitor.run."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator

import pytest

import monitoring.runner
from monitoring.monitor import Monitor
from trainsmart.cli.context import AppContext
from trainsmart.cli.monitor import run_monitor
from trainsmart.settings import Settings
from trainsmart.state import JobStatus


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
        monitoring.runner,
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
    assert job.pid is not None and not monitoring.runner.pid_alive(job.pid)
