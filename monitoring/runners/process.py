"""Retrain jobs as local child processes (``monitoring.job_runner: subprocess``, the
default), and the process helpers the monitor shares: its CPU priority, whether a pid
lives, killing a job's process group.

The job marks its own outcome; the runner marks it running when it starts and failed when
the process dies, exits without an outcome or runs too long (``monitoring/runners/base.py``).

Example::

    runner = SubprocessJobRunner(scope, JobStore(db))
    runner.start(job)           # trainsmart retrain --job-id <id>, log in jobs/<id>/job.log
    finished = runner.poll()    # jobs whose process has exited since the last poll
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from monitoring.errors import MonitoringError
from monitoring.runners.base import JobRunner
from monitoring.settings import MonitoringScope
from trainsmart.settings import child_environment
from trainsmart.state.jobs import Job, JobStatus, JobStore

log = logging.getLogger(__name__)


def lower_priority(niceness: int) -> int:
    """Raise this process's nice value to at least ``niceness`` (never lower it; children
    inherit it); the nice value it then has. A no-op where ``os.nice`` does not exist."""
    if not hasattr(os, "nice"):
        return 0
    current = os.nice(0)
    return os.nice(niceness - current) if current < niceness else current


@dataclass
class _Running:
    job_id: int
    process: subprocess.Popen[bytes]
    started: float


def default_command() -> list[str]:
    """The retrain command; the job id is appended as its last argument."""
    return [sys.executable, "-m", "apps.cli.main", "retrain", "--job-id"]


class SubprocessJobRunner(JobRunner):
    """Each job is a child process, ``command + [job id]``, killed after ``job_timeout_s``."""

    def __init__(
        self,
        scope: MonitoringScope,
        jobs: JobStore,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.scope = scope
        self.jobs = jobs
        self.command = list(command) if command is not None else default_command()
        self.env = child_environment(scope, env)
        self.timeout_s = scope.monitoring.job_timeout_s
        self._running: dict[int, _Running] = {}
        self._done: list[Job] = []

    def start(self, job: Job) -> None:
        folder = self.scope.paths.jobs / str(job.id)
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / "job.log"
        argv = [*self.command, str(job.id)]
        try:
            with log_path.open("ab") as out:
                process = subprocess.Popen(
                    argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    start_new_session=True,
                )
        except OSError as exc:
            self.jobs.finish(job.id, JobStatus.FAILED, {"error": f"could not start: {exc}"})
            self._done.append(self.jobs.get(job.id))
            raise MonitoringError(
                f"retrain job {job.id} could not start {argv[0]!r} ({exc}); "
                "check the retrain command and that the project is installed"
            ) from exc
        self.jobs.mark_running(job.id, process.pid, str(log_path))
        self._running[job.id] = _Running(job.id, process, time.monotonic())
        log.info("retrain job %d started: pid %d, log %s", job.id, process.pid, log_path)

    def tracks(self, job_id: int) -> bool:
        return job_id in self._running

    def poll(self) -> list[Job]:
        finished, self._done = self._done, []
        for job_id, running in list(self._running.items()):
            code = running.process.poll()
            if code is None:
                elapsed = time.monotonic() - running.started
                if elapsed <= self.timeout_s:
                    continue
                self._kill(running)
                self.jobs.finish(
                    job_id,
                    JobStatus.FAILED,
                    {
                        "error": f"killed after {elapsed:.0f}s (job_timeout_s={self.timeout_s:g})",
                    },
                )
                log.warning("retrain job %d ran past %gs and was killed", job_id, self.timeout_s)
            elif not self.jobs.get(job_id).status.finished:
                self.jobs.finish(
                    job_id,
                    JobStatus.FAILED,
                    {
                        "exit_code": code,
                        "error": f"the retrain process exited with code {code} without an outcome;"
                        " see its log",
                    },
                )
                log.warning("retrain job %d exited with code %d without an outcome", job_id, code)
            del self._running[job_id]
            finished.append(self.jobs.get(job_id))
        return finished

    def stop(self) -> None:
        """Kill every running job and mark it failed (the monitor is shutting down).

        Jobs run in their own session, so stopping the monitor's process group does not
        reach them; the monitor calls this on its way out. A job that already set its
        outcome keeps it.
        """
        for job_id, running in list(self._running.items()):
            self._kill(running)
            self.jobs.finish(
                job_id,
                JobStatus.FAILED,
                {
                    "error": "monitor stopped while the job ran; the job was killed, the "
                    "next drifted windows of a running monitor start a new one",
                },
            )
            del self._running[job_id]
            log.warning("retrain job %d killed: the monitor is stopping", job_id)

    @staticmethod
    def _kill(running: _Running) -> None:
        try:
            os.killpg(running.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            running.process.kill()
        running.process.wait()


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (POSIX)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_process_group(pid: int) -> bool:
    """SIGKILL the process group led by ``pid`` (a job started with start_new_session=True).

    Only a live group leader is killed, so a reused pid of an unrelated process is left
    alone. Returns whether a signal was sent.
    """
    if pid <= 1:
        return False
    try:
        if os.getpgid(pid) != pid:
            return False
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True
