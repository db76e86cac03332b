"""One row of the ``audit`` table, written inside the caller's transaction.

The registry audits promotions, rollbacks and candidate changes; the job store audits
retrain jobs (requested, then succeeded, rejected or failed). Both write through
:func:`write_audit`, in the same transaction as the change they record, so a change and
its audit row commit together or not at all. ``trainsmart models audit`` reads them.
"""

from __future__ import annotations

import getpass
import os
import time

from trainsmart.state.db import Connection


def default_actor() -> str:
    """Who is acting: ``$TRAINSMART_ACTOR`` or the OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return os.environ.get("TRAINSMART_ACTOR", f"user:{user}")


def write_audit(
    conn: Connection,
    model: str,
    action: str,
    from_version: str | None,
    to_version: str | None,
    actor: str | None,
    reason: str,
) -> None:
    """Insert one audit row (``actor`` None: :func:`default_actor`)."""
    conn.execute(
        "INSERT INTO audit (ts, model, action, from_version, to_version, actor, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (time.time(), model, action, from_version, to_version, actor or default_actor(), reason),
    )
