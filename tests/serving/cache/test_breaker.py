"""The circuit breaker's states, driven by a fake clock (plain Python, no I/O)."""

from __future__ import annotations

import pytest

from serving.cache.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only() -> None:
    changes: list[bool] = []
    breaker = CircuitBreaker(3, reset_s=5.0, on_change=changes.append, clock=Clock())
    breaker.failure()
    breaker.failure()
    breaker.success()  # resets the count
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and breaker.is_open
    assert not breaker.allow()
    assert changes == [True]


def test_half_open_lets_one_probe_through_then_closes_or_reopens() -> None:
    clock = Clock()
    changes: list[bool] = []
    breaker = CircuitBreaker(1, reset_s=5.0, on_change=changes.append, clock=clock)
    breaker.failure()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()  # the probe
    assert breaker.state == "half-open"
    assert not breaker.allow()  # everyone else waits for the probe
    breaker.failure()  # probe failed: open again, timer restarted
    assert breaker.state == "open"
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()
    assert changes == [True, False]


def test_failure_reported_late_while_open_changes_nothing() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, reset_s=5.0, clock=clock)
    breaker.failure()
    opened = breaker.state
    clock.now += 3.0
    breaker.failure()  # a call that started before the breaker opened
    clock.now += 2.0
    assert opened == "open" and breaker.allow()


@pytest.mark.parametrize(("threshold", "reset_s"), [(0, 1.0), (1, -1.0)])
def test_bad_arguments_are_named(threshold: int, reset_s: float) -> None:
    with pytest.raises(ValueError, match=r"failure_threshold|reset_s"):
        CircuitBreaker(threshold, reset_s)
