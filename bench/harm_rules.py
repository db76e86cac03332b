"""Decision rules of the harm bench (bench/harm.py): when a window counts towards a
retrain, when a stream triggers, and which goals an outcome met.

Example::

    rule = Rule("estimate drop 0.02, K 2", windows=2, drop=0.02)
    outcome(rule, streams, test_accuracy).caught
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.harm_data import Window

HARMFUL, BENIGN = 0.02, 0.01
"""A shift is harmful at an accuracy drop of 2 points or more, benign under 1 point."""
MAX_FALSE_ALARMS = 0.05


@dataclass(frozen=True)
class Rule:
    """When a window counts towards a trigger, and how many in a row trigger."""

    name: str
    windows: int
    drop: float | None = None
    """Estimate rule: flag when estimated accuracy < test accuracy - drop. None: Evidently's
    dataset drift flag."""
    weighted: float = 0.0
    """Estimate rule: also need a weighted drift share at least this (0: no gate; versions
    without importance are never gated)."""

    def flags(self, windows: Sequence[Window], test_accuracy: float) -> list[bool]:
        if self.drop is None:
            return [w.dataset_drift for w in windows]
        return [
            w.estimated < test_accuracy - self.drop
            and (w.weighted is None or w.weighted >= self.weighted)
            for w in windows
        ]

    def triggers(self, windows: Sequence[Window], test_accuracy: float) -> list[bool]:
        flags = self.flags(windows, test_accuracy)
        k = self.windows
        return [i >= k - 1 and all(flags[i - k + 1 : i + 1]) for i in range(len(flags))]


@dataclass(frozen=True)
class Outcome:
    """One rule on one scenario's streams."""

    false_alarms: float
    """Share of same-population windows where the rule triggered."""
    caught: float
    """Share of streams triggered within 2 windows of the onset."""
    silent: float
    """Share of streams never triggered on the shifted windows."""


def kind(drop: float) -> str:
    return "harmful" if drop >= HARMFUL else "benign" if drop < BENIGN else "between"


def outcome(rule: Rule, streams: Sequence[Sequence[Window]], test_accuracy: float) -> Outcome:
    alarms = calm = caught = silent = 0
    for windows in streams:
        fired = rule.triggers(windows, test_accuracy)
        onset = next(i for i, w in enumerate(windows) if w.shifted)
        alarms += sum(fired[:onset])
        calm += onset
        caught += any(fired[onset : onset + 2])
        silent += not any(fired[onset:])
    n = len(streams)
    return Outcome(alarms / max(calm, 1), caught / n, silent / n)


def meets(result: Outcome, scenario_kind: str) -> list[str]:
    """The goals ``result`` missed (empty: all met)."""
    missed = []
    if result.false_alarms > MAX_FALSE_ALARMS:
        missed.append(f"false alarms {result.false_alarms:.1%} > 5%")
    if scenario_kind == "harmful" and result.caught < 1.0:
        missed.append(f"harmful caught within 2 windows in {result.caught:.0%} of streams")
    if scenario_kind == "benign" and result.silent < 1.0:
        missed.append(f"benign shift triggered in {1 - result.silent:.0%} of streams")
    return missed
