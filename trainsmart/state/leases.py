"""Leases: one holder at a time for a named role, across processes and machines.

Several monitors may run (a rolling update, a second one started by mistake, a standby
for failover); only the lease holder checks windows and supervises retrain jobs, so two
monitors never start, judge or fail the same job. The holder renews its lease every
check; when it stops renewing (crashed, hung, partitioned) the lease expires after
``ttl_s`` and another process takes it over. Expiry compares wall clocks, so machines
must keep them within a fraction of ``ttl_s`` of each other (NTP does).

Example::

    lease = Lease(db, "monitor:fair", holder="host-a:4242", ttl_s=30)
    if lease.acquire():      # taken or renewed
        ...                  # lead
    lease.release()          # on the way out: a standby takes over at once
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from trainsmart.state.db import Database


def default_holder() -> str:
    """``host:pid``: names this process among every machine's."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Holding:
    name: str
    holder: str
    acquired_at: float
    expires_at: float


class Lease:
    """A named lease in the ``leases`` table, held by ``holder`` for ``ttl_s`` per renewal."""

    def __init__(
        self,
        db: Database,
        name: str,
        holder: str | None = None,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"a lease needs a positive ttl_s, not {ttl_s}")
        self.db, self.name, self.ttl_s, self.clock = db, name, ttl_s, clock
        self.holder = holder or default_holder()

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, renew it if held; whether it is ours."""
        now = self.clock()
        with self.db.transaction(lock=f"lease:{self.name}") as conn:
            row = conn.execute(
                "SELECT holder, expires_at FROM leases WHERE name = ?", (self.name,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO leases (name, holder, acquired_at, expires_at)"
                    " VALUES (?, ?, ?, ?)",
                    (self.name, self.holder, now, now + self.ttl_s),
                )
                return True
            if row["holder"] == self.holder:
                conn.execute(
                    "UPDATE leases SET expires_at = ? WHERE name = ?",
                    (now + self.ttl_s, self.name),
                )
                return True
            if float(row["expires_at"]) <= now:
                conn.execute(
                    "UPDATE leases SET holder = ?, acquired_at = ?, expires_at = ? WHERE name = ?",
                    (self.holder, now, now + self.ttl_s, self.name),
                )
                return True
            return False

    def release(self) -> None:
        """Give the lease up now (only if ours), so that a standby need not wait for expiry."""
        with self.db.transaction(lock=f"lease:{self.name}") as conn:
            conn.execute(
                "DELETE FROM leases WHERE name = ? AND holder = ?", (self.name, self.holder)
            )

    def current(self) -> Holding | None:
        """Who holds the lease now (None: nobody, or only an expired holder)."""
        row = (
            self.db.connection()
            .execute("SELECT * FROM leases WHERE name = ?", (self.name,))
            .fetchone()
        )
        if row is None or float(row["expires_at"]) <= self.clock():
            return None
        return Holding(row["name"], row["holder"], row["acquired_at"], row["expires_at"])
