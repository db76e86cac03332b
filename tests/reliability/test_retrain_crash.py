"""A real retrain job (`trainsmart retrain --job-id N`, started by the monitor's runner)
SIGKILLed in the middle of training is marked failed, and promotes and registers nothing:
the champion stays in production and the registry holds no half-written version."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from monitoring.runners.process import SubprocessJobRunner
from tests.monitoring.runners.test_process import start_until_logged
from tests.training.conftest import Env
from tests.training.test_retrain import log_labelled_rows
from training.pipeline import TrainOutcome
from trainsmart.state import JobStatus, JobStore

SLOW_TRAINING = {
    "TRAINSMART_TRAINING__MAX_EPOCHS": "500",  # far longer than the test waits
    "TRAINSMART_TRAINING__PATIENCE": "500",
    "TRAINSMART_TRAINING__HIDDEN_SIZES": "[16]",
}


def test_a_retrain_killed_mid_training_is_failed_and_changes_nothing(
    env_factory: Callable[..., Env], champion: TrainOutcome
) -> None:
    env = env_factory()
    log_labelled_rows(env, champion, 400)
    name = env.settings.model_name
    jobs = JobStore(env.db)
    runner = SubprocessJobRunner(env.settings.monitoring_scope(), jobs, env=SLOW_TRAINING)
    job, log = start_until_logged(runner, jobs, name, "retrain job", timeout_s=120)
    assert job.pid is not None
    time.sleep(3.0)  # well into training: 500 epochs take far longer
    assert jobs.get(job.id).status == JobStatus.RUNNING, log.read_text()[-2000:]
    os.killpg(job.pid, signal.SIGKILL)  # the job and anything it started, no cleanup

    deadline = time.monotonic() + 30
    finished = runner.poll()
    while not finished and time.monotonic() < deadline:
        time.sleep(0.1)
        finished = runner.poll()
    assert [j.id for j in finished] == [job.id]
    failed = jobs.get(job.id)
    assert failed.status == JobStatus.FAILED and failed.result is not None
    assert env.registry.versions(name) == ["v1"]
    assert env.registry.production(name) == "v1"
    assert jobs.in_flight(name) is None  # a new job may start
