"""When drift turns into a retrain job: K drifted windows in a row, cooldown, single flight.

Example::

    policy = RetrainPolicy(consecutive_windows=2, cooldown_s=600)
    policy.observe("v1", dataset_drift=True, now=t)    # False: 1 of 2
    policy.observe("v1", dataset_drift=True, now=t)    # True: 2 drifted windows of v1
    policy.allowed(t, last_job_created_at=None, job_in_flight=False)   # (True, "...")
"""

from __future__ import annotations


class RetrainPolicy:
    """Counts consecutive drifted windows of one production version."""

    def __init__(self, consecutive_windows: int, cooldown_s: float) -> None:
        if consecutive_windows < 1:
            raise ValueError(f"consecutive_windows must be at least 1, got {consecutive_windows}")
        if cooldown_s < 0:
            raise ValueError(f"cooldown_s must not be negative, got {cooldown_s}")
        self.consecutive_windows = consecutive_windows
        self.cooldown_s = cooldown_s
        self.version: str | None = None
        self.streak = 0
        self.last_window_at: float | None = None

    def reset(self, version: str | None = None) -> None:
        """Forget the streak (a new production version starts from zero)."""
        self.version = version
        self.streak = 0

    def observe(self, version: str, dataset_drift: bool, now: float) -> bool:
        """Record one window; True when the last K windows of ``version`` all drifted."""
        if version != self.version:
            self.reset(version)
        self.last_window_at = now
        self.streak = self.streak + 1 if dataset_drift else 0
        return self.streak >= self.consecutive_windows

    def allowed(
        self, now: float, last_job_created_at: float | None, job_in_flight: bool
    ) -> tuple[bool, str]:
        """Whether a retrain job may start now, and why (or why not)."""
        if job_in_flight:
            return False, "a retrain job is already queued or running for this model"
        if last_job_created_at is not None:
            elapsed = now - last_job_created_at
            if elapsed < self.cooldown_s:
                return False, (
                    f"cooldown: the last retrain job was created {elapsed:.0f}s ago, "
                    f"the policy waits {self.cooldown_s:.0f}s between jobs"
                )
        return True, (
            f"dataset drift in {self.streak} consecutive windows of {self.version} "
            f"(policy: {self.consecutive_windows})"
        )
