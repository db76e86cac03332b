"""Leadership among several monitors of one model: only the lease holder acts.

Replicas of the monitor (a rolling update, a standby for failover, one started twice by
mistake) share the state database; each check, every monitor tries to take or renew the
lease ``monitor:<model>`` (``trainsmart/state/leases.py``). The holder checks windows and
supervises retrain jobs; the others wait, so two monitors never start, judge or fail the
same job. A holder that stops renewing (crashed, hung, cut off) loses the lease after
``monitoring.leader_lease_s``; a holder that stops cleanly releases it at once.

Example::

    leadership = Leadership(Lease(db, "monitor:fair", ttl_s=60), metrics, "fair")
    if leadership.lead():
        monitor.check_once()
"""

from __future__ import annotations

import logging

from monitoring.metrics import MonitorMetrics
from trainsmart.state.leases import Lease

log = logging.getLogger(__name__)


class Leadership:
    """Takes or renews the monitor's lease each check and says whether to act."""

    def __init__(self, lease: Lease, metrics: MonitorMetrics, model: str) -> None:
        self.lease, self.metrics, self.model = lease, metrics, model
        self.leading: bool | None = None

    def lead(self) -> bool:
        """Whether this monitor leads now (a database error: it does not, this check)."""
        try:
            leading = self.lease.acquire()
        except Exception:
            log.exception("%s: the monitor lease could not be checked; standing by", self.model)
            leading = False
        if leading != self.leading:
            if leading:
                log.info("%s: this monitor (%s) leads", self.model, self.lease.holder)
            else:
                holding = self._holder()
                log.warning(
                    "%s: standing by: %s holds the monitor lease; this monitor takes over if it "
                    "stops renewing it for monitoring.leader_lease_s=%gs",
                    self.model,
                    holding,
                    self.lease.ttl_s,
                )
        self.leading = leading
        self.metrics.leader.labels(self.model).set(1 if leading else 0)
        return leading

    def release(self) -> None:
        """Give the lease up (stopping): a standby takes over at its next check."""
        try:
            self.lease.release()
        except Exception:
            log.exception("%s: the monitor lease could not be released; it expires", self.model)
        self.metrics.leader.labels(self.model).set(0)

    def _holder(self) -> str:
        try:
            current = self.lease.current()
        except Exception:
            return "another monitor"
        return "nobody" if current is None else current.holder
