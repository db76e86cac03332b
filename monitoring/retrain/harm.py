"""Which windows count towards a retrain, and why: drift, estimated harm, or both.

``monitoring.trigger`` chooses what a window must show to extend the policy's streak
(``monitoring/retrain/policy.py`` keeps the streak, the cooldown and single flight):

- ``drift`` (default): dataset drift; ``consecutive_windows`` in a row trigger;
- ``estimated_harm``: the window's estimated ``monitoring.estimated_metric``
  (``monitoring/estimate/``) below the version's test metric minus
  ``monitoring.estimated_drop``; ``estimated_windows`` in a row trigger;
- ``both``: dataset drift AND estimated harm in the same window; ``estimated_windows`` in
  a row trigger. Drift that does not hurt (benign drift) starts no retrain.

A version without an estimate (no ``calibration.json``) falls back to the drift rule, and
the reason says so. The webhook and the schedule do not pass through here. Every
window gets a sentence (:attr:`Verdict.reason`), journaled with it, e.g. ``no retrain:
inputs drifted in 2 windows but estimated accuracy 0.885 ± 0.010 holds above 0.868 (test
0.888 - 0.02)``; the reason of a triggered job is :meth:`HarmRule.describe`.

Example::

    rule = HarmRule.from_settings(scope.monitoring)
    policy = RetrainPolicy(rule.windows(scope.monitoring.consecutive_windows), 600)
    triggered, verdict = rule.observe(policy, "v1", dataset_drift=True, found=estimate, now=t)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from monitoring.estimate.window import WindowEstimate
    from monitoring.retrain.policy import RetrainPolicy
    from monitoring.settings import MonitoringSettings

Mode = Literal["drift", "estimated_harm", "both"]


@dataclass(frozen=True)
class Verdict:
    """One window's part in the retrain decision."""

    counts: bool
    """The window extends the streak."""
    reason: str
    """Why, in a sentence (journal, demo timeline)."""


class HarmRule:
    """Turns a window's drift and estimate into a :class:`Verdict`."""

    def __init__(self, mode: Mode, metric: str, drop: float, windows: int) -> None:
        self.mode = mode
        self.metric = metric
        self.drop = drop
        self.estimated_windows = windows
        self.version: str | None = None
        self.drifted_in_row = 0
        self._last = ""
        """What the streak's last window showed (the job's reason builds on it)."""
        self._fallback = False
        """The last window had no estimate: the drift rule decided."""

    @classmethod
    def from_settings(cls, config: MonitoringSettings) -> HarmRule:
        return cls(
            config.trigger, config.estimated_metric, config.estimated_drop, config.estimated_windows
        )

    def windows(self, consecutive_windows: int) -> int:
        """K, the streak that triggers: consecutive_windows for drift, else estimated_windows."""
        return consecutive_windows if self.mode == "drift" else self.estimated_windows

    def observe(
        self,
        policy: RetrainPolicy,
        version: str,
        dataset_drift: bool,
        found: WindowEstimate | None,
        now: float,
    ) -> tuple[bool, Verdict]:
        """Judge one window, count it in ``policy``; (the policy fired, the verdict)."""
        if version != self.version:
            self.version, self.drifted_in_row = version, 0
        self.drifted_in_row = self.drifted_in_row + 1 if dataset_drift else 0
        verdict = self.judge(dataset_drift, found)
        triggered = policy.observe(version, verdict.counts, now)
        k = policy.consecutive_windows
        if triggered:
            policy.reason = None if self.mode == "drift" else self.describe(version, k)
            verdict = Verdict(True, f"retrain: {policy.describe()}")
        elif verdict.counts:
            verdict = Verdict(True, f"{verdict.reason}: {policy.streak} of {k} windows")
        return triggered, verdict

    def judge(self, dataset_drift: bool, found: WindowEstimate | None) -> Verdict:
        drift = self._drift_text(dataset_drift)
        one = None if found is None else found.estimate(self.metric)
        threshold = None if found is None else found.threshold.get(self.metric)
        self._fallback = one is None or threshold is None or one.value != one.value  # nan
        if self._fallback:
            self._last = drift
            if self.mode == "drift":
                return Verdict(dataset_drift, drift)
            why = "no estimate (no calibration.json, or too few logged probabilities)"
            return Verdict(dataset_drift, f"{drift}; {why}: the drift rule decides")
        assert found is not None and one is not None and threshold is not None
        test = found.test[self.metric]
        harmful = one.value < threshold
        where = "below" if harmful else "holds above"
        estimate = f"{one.text()} {where} {threshold:.3f} (test {test:.3f} - {self.drop:g})"
        self._last = f"{estimate}, {drift}" if dataset_drift else estimate
        if self.mode == "drift":
            return Verdict(dataset_drift, f"{drift}; {estimate}")
        if self.mode == "estimated_harm":
            if harmful:
                return Verdict(True, estimate)
            return Verdict(False, f"no retrain: {drift} but {estimate}")
        if harmful and dataset_drift:
            return Verdict(True, f"{drift} and {estimate}")
        if dataset_drift:
            return Verdict(False, f"no retrain: {drift} but {estimate}")
        return Verdict(False, f"no retrain: {drift}; {estimate} (trigger: both)")

    def describe(self, version: str, k: int) -> str:
        """Why the policy fired under estimated_harm or both (the job's reason)."""
        if self._fallback:
            return (
                f"dataset drift in {k} consecutive windows of {version} (no performance "
                f"estimate: the drift rule decides; monitoring.trigger: {self.mode})"
            )
        needs = "estimated harm" if self.mode == "estimated_harm" else "drift and estimated harm"
        return (
            f"{needs} in {k} consecutive windows of {version}; last: {self._last} "
            f"(monitoring.trigger: {self.mode}, estimated_windows: {k})"
        )

    def _drift_text(self, dataset_drift: bool) -> str:
        if not dataset_drift:
            return "no dataset drift"
        n = self.drifted_in_row
        return f"inputs drifted in {n} window{'s' if n > 1 else ''}"
