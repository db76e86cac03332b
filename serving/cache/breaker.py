"""A small circuit breaker for calls to a dependency the service can do without.

The Redis cache is optional: when Redis is down every call would otherwise pay
the socket timeout before bypassing the cache. The breaker counts consecutive
failures and, past a threshold, answers "don't call" without trying, so a
request pays nothing while the dependency is known to be down.

States::

    closed --(failure_threshold consecutive failures)--> open
    open   --(reset_s elapsed; next caller is the probe)--> half-open
    half-open --(probe succeeds)--> closed
    half-open --(probe fails)-----> open (reset_s starts again)

While half-open only the probe goes through; other callers are refused until
it reports, so a dead dependency sees one attempt per ``reset_s`` per process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Thread-safe closed / open / half-open breaker; the caller reports each outcome.

    Example::

        breaker = CircuitBreaker(failure_threshold=3, reset_s=5.0)
        if breaker.allow():
            try:
                value = client.get(key)
            except ConnectionError:
                breaker.failure()
            else:
                breaker.success()

    ``on_change(open)`` is called (outside the lock) when the breaker opens
    (``True``) or closes again (``False``); half-open counts as still open.
    """

    def __init__(
        self,
        failure_threshold: int,
        reset_s: float,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold <= 0:
            raise ValueError(f"failure_threshold must be positive, got {failure_threshold}")
        if reset_s < 0:
            raise ValueError(f"reset_s must be >= 0, got {reset_s}")
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self._on_change = on_change
        self._clock = clock
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._lock = threading.Lock()

    @property
    def state(self) -> State:
        """The current state ("open" turns into "half-open" only when a caller probes)."""
        return self._state

    @property
    def is_open(self) -> bool:
        """True while calls are refused or only a probe may go through."""
        return self._state != "closed"

    def allow(self) -> bool:
        """Whether the caller may call the dependency now (and must then report the outcome)."""
        with self._lock:
            if self._state == "closed":
                return True
            if self._state == "open" and self._clock() - self._opened_at >= self.reset_s:
                self._state = "half-open"
                return True
            return False

    def success(self) -> None:
        """Report a call that worked: closes the breaker and clears the failure count."""
        with self._lock:
            was_open = self._state != "closed"
            self._state = "closed"
            self._failures = 0
        if was_open and self._on_change is not None:
            self._on_change(False)

    def failure(self) -> None:
        """Report a call that failed: opens the breaker at the threshold or after a probe."""
        with self._lock:
            opened = False
            if self._state == "half-open":
                self._state = "open"
                self._opened_at = self._clock()
            elif self._state == "closed":
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._state = "open"
                    self._opened_at = self._clock()
                    opened = True
            # already open: a call that started before the breaker opened; nothing changes
        if opened and self._on_change is not None:
            self._on_change(True)
