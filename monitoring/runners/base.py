"""The seam where retrain jobs run: :class:`JobRunner`.

The retrain command sets its own outcome (succeeded or rejected) with ``JobStore.finish``;
a runner only marks a job running when it starts and failed when it dies, ends without an
outcome or runs too long. Implementations: ``process.py`` (a child process) and
``kubernetes/runner.py`` (a Kubernetes Job); ``factory.py`` picks one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from trainsmart.state.jobs import Job


class JobRunner(ABC):
    """Starts retrain jobs and reports the ones that have finished."""

    @abstractmethod
    def start(self, job: Job) -> None:
        """Start ``job`` (a queued job) and mark it running."""

    @abstractmethod
    def poll(self) -> list[Job]:
        """Jobs that finished since the last call, as the job store now has them."""

    def tracks(self, job_id: int) -> bool:
        """Whether this runner is still watching ``job_id`` (so it is not an orphan)."""
        return False

    def stop(self) -> None:  # noqa: B027  (optional hook: most runners hold nothing)
        """The monitor is exiting: end or hand over the running jobs."""
