"""When drift turns into a retrain job: K drifted windows in a row, cooldown, single flight,
and enough labelled rows to train and judge a challenger.

The last three rules hold for every automatic trigger (drift, the Alertmanager webhook,
the schedule): ``monitoring/retrain/triggers.py`` asks :meth:`RetrainPolicy.allowed` before it
creates a job. A job started without enough labels would only be rejected by the gate
after minutes of training, so the policy answers "waiting for labels" instead.

Example::

    policy = RetrainPolicy(consecutive_windows=2, cooldown_s=600, min_labelled_rows=60)
    policy.observe("v1", dataset_drift=True, now=t)    # False: 1 of 2
    policy.observe("v1", dataset_drift=True, now=t)    # True: 2 drifted windows of v1
    policy.allowed(t, last_job_created_at=None, job_in_flight=False, labelled_rows=80)
    # (True, "dataset drift in 2 consecutive windows of v1 (policy: 2)")
"""

from __future__ import annotations


class RetrainPolicy:
    """Counts consecutive drifted windows of one production version."""

    def __init__(
        self, consecutive_windows: int, cooldown_s: float, min_labelled_rows: int = 0
    ) -> None:
        if consecutive_windows < 1:
            raise ValueError(f"consecutive_windows must be at least 1, got {consecutive_windows}")
        if cooldown_s < 0:
            raise ValueError(f"cooldown_s must not be negative, got {cooldown_s}")
        if min_labelled_rows < 0:
            raise ValueError(f"min_labelled_rows must not be negative, got {min_labelled_rows}")
        self.consecutive_windows = consecutive_windows
        self.cooldown_s = cooldown_s
        self.min_labelled_rows = min_labelled_rows
        self.version: str | None = None
        self.streak = 0
        self.last_window_at: float | None = None
        self.reason: str | None = None
        """Set by monitoring/retrain/harm.py when estimated harm fired: the job's reason."""

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
        self,
        now: float,
        last_job_created_at: float | None,
        job_in_flight: bool,
        labelled_rows: int | None = None,
    ) -> tuple[bool, str]:
        """Whether a retrain job may start now, and why (or why not).

        ``labelled_rows``: labelled rows in the input log (None: not checked).
        """
        if job_in_flight:
            return False, "a retrain job is already queued or running for this model"
        if last_job_created_at is not None:
            elapsed = now - last_job_created_at
            if elapsed < self.cooldown_s:
                return False, (
                    f"cooldown: the last retrain job was created {elapsed:.0f}s ago, "
                    f"the policy waits {self.cooldown_s:.0f}s between jobs"
                )
        if labelled_rows is not None and labelled_rows < self.min_labelled_rows:
            return False, (
                f"waiting for labels: {labelled_rows} labelled rows in the input log, a "
                f"retrain needs {self.min_labelled_rows} (monitoring.min_labelled_rows); "
                "send ground truth to /feedback"
            )
        return True, self.describe()

    def describe(self) -> str:
        """Why the rule fired: the streak of drifted windows (or the harm rule's reason)."""
        if self.reason is not None:
            return self.reason
        return (
            f"dataset drift in {self.streak} consecutive windows of {self.version} "
            f"(policy: {self.consecutive_windows})"
        )
