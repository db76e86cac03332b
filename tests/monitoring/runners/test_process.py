from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.settings import Settings, load_settings
from monitoring.runners.process import SubprocessJobRunner
from monitoring.settings import MonitoringSettings
from trainsmart.settings import child_environment
from trainsmart.state import Database, Job, JobStatus, JobStore

FINISH = """
import sys
from apps.settings import load_settings
from trainsmart.state import JobStatus, JobStore, open_database
db = open_database(load_settings())
JobStore(db).finish(int(sys.argv[1]), JobStatus.SUCCEEDED, {"version": "v2"})
print("retrained", sys.argv[1])
"""


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


def script(code: str) -> list[str]:
    """A command prefix: the runner appends the job id, the script reads it as argv[1]."""
    return [sys.executable, "-c", code]


def wait_finished(runner: SubprocessJobRunner, timeout_s: float = 30.0) -> list[Job]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = runner.poll()
        if done:
            return done
        time.sleep(0.05)
    raise AssertionError("the job did not finish in time")


def run_one(settings: Settings, jobs: JobStore, code: str) -> Job:
    runner = SubprocessJobRunner(settings.monitoring_scope(), jobs, command=script(code))
    job = jobs.create("fair", "test")
    assert job is not None
    runner.start(job)
    running = jobs.get(job.id)
    assert running.status == JobStatus.RUNNING and running.pid is not None
    assert running.log_path == str(settings.paths.jobs / str(job.id) / "job.log")
    [finished] = wait_finished(runner)
    assert finished.id == job.id
    return finished


def test_exit_0_without_an_outcome_is_failed(settings: Settings, jobs: JobStore) -> None:
    job = run_one(settings, jobs, "print('nothing done')")
    assert job.status == JobStatus.FAILED
    assert job.result is not None and job.result["exit_code"] == 0
    assert "nothing done" in Path(str(job.log_path)).read_text()


def test_nonzero_exit_is_failed_with_its_code(settings: Settings, jobs: JobStore) -> None:
    job = run_one(settings, jobs, "import sys; print('boom', file=sys.stderr); sys.exit(3)")
    assert job.status == JobStatus.FAILED
    assert job.result is not None and job.result["exit_code"] == 3
    assert "boom" in Path(str(job.log_path)).read_text()


def test_an_outcome_set_by_the_job_is_kept(settings: Settings, jobs: JobStore) -> None:
    job = run_one(settings, jobs, FINISH)
    assert job.status == JobStatus.SUCCEEDED
    assert job.result == {"version": "v2"}
    assert f"retrained {job.id}" in Path(str(job.log_path)).read_text()


def test_a_job_past_its_timeout_is_killed(tmp_path: Path, jobs: JobStore) -> None:
    settings = load_settings(
        data_dir=jobs.db.path.parent,
        model_name="fair",
        monitoring=MonitoringSettings(job_timeout_s=0.3),
    )
    runner = SubprocessJobRunner(
        settings.monitoring_scope(), jobs, command=script("import time; time.sleep(60)")
    )
    job = jobs.create("fair", "test")
    assert job is not None
    runner.start(job)
    started = time.monotonic()
    [finished] = wait_finished(runner)
    assert time.monotonic() - started < 10
    assert finished.status == JobStatus.FAILED
    assert finished.result is not None and "killed after" in finished.result["error"]
    assert not runner.tracks(job.id)


def test_child_sees_the_same_data_dir(settings: Settings) -> None:
    env = child_environment(settings, {"EXTRA": "1"})
    assert env["TRAINSMART_DATA_DIR"] == str(settings.data_dir)
    assert env["EXTRA"] == "1"
    assert env["PATH"]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def wait_dead(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


SPAWNS_A_GRANDCHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("grandchild", child.pid, flush=True)
time.sleep(60)
"""


def start_until_logged(
    runner: SubprocessJobRunner, jobs: JobStore, model: str, text: str, timeout_s: float = 30.0
) -> tuple[Job, Path]:
    """Start a new job of ``model`` and wait until its log shows ``text``; (running job, log)."""
    job = jobs.create(model, "test")
    assert job is not None
    runner.start(job)
    running = jobs.get(job.id)
    assert running.pid is not None and running.log_path is not None
    log_path = Path(running.log_path)
    deadline = time.monotonic() + timeout_s
    while text not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return running, log_path


def test_stop_kills_the_running_job_and_its_children(settings: Settings, jobs: JobStore) -> None:
    runner = SubprocessJobRunner(
        settings.monitoring_scope(), jobs, command=script(SPAWNS_A_GRANDCHILD)
    )
    job, log_path = start_until_logged(runner, jobs, "fair", "grandchild")
    grandchild = int(log_path.read_text().split()[1])
    runner.stop()
    stopped = jobs.get(job.id)
    assert stopped.status == JobStatus.FAILED and stopped.result is not None
    assert "monitor stopped while the job ran" in stopped.result["error"]
    assert not runner.tracks(job.id)
    assert job.pid is not None and wait_dead(job.pid) and wait_dead(grandchild)
    assert jobs.in_flight("fair") is None


def test_stop_keeps_an_outcome_the_job_already_set(settings: Settings, jobs: JobStore) -> None:
    runner = SubprocessJobRunner(settings.monitoring_scope(), jobs, command=script(FINISH))
    job = jobs.create("fair", "test")
    assert job is not None
    runner.start(job)
    deadline = time.monotonic() + 30
    while not jobs.get(job.id).status.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    runner.stop()
    assert jobs.get(job.id).status == JobStatus.SUCCEEDED


def test_lower_priority_raises_the_nice_value_never_lowers_it_and_children_inherit() -> None:
    code = (
        "import os, subprocess, sys\n"
        "from monitoring.runners.process import lower_priority\n"
        "print(lower_priority(5), lower_priority(3), end=' ')\n"
        "sys.stdout.flush()\n"
        "subprocess.run([sys.executable, '-c', 'import os; print(os.nice(0))'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[3],
    ).stdout.split()
    start = os.nice(0)
    assert out == [str(max(start, 5))] * 3
