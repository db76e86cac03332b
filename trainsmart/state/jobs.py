"""The retrain jobs table: queued -> running -> succeeded | rejected | failed.

Each job records what triggered it (``drift``, ``webhook``, ``schedule`` or ``manual``),
who (``monitor``, ``alertmanager``, the user) and why, the champion it was measured
against and the version it produced, its process id and log. Creating and finishing a
job writes an audit row in the same transaction (``retrain-requested``, then
``retrain-succeeded``, ``retrain-rejected`` or ``retrain-failed``), so ``trainsmart
models audit`` tells the whole story beside promotions and rollbacks.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from trainsmart.errors import NotFound
from trainsmart.state.audit import write_audit
from trainsmart.state.db import Database, Row


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.REJECTED, JobStatus.FAILED)


class Trigger(StrEnum):
    """What asked for a retrain."""

    DRIFT = "drift"
    """K consecutive drifted windows (monitoring/retrain/policy.py)."""
    WEBHOOK = "webhook"
    """A firing Alertmanager alert (monitoring/retrain/webhook.py)."""
    SCHEDULE = "schedule"
    """monitoring.retrain_every_s elapsed since the last job."""
    MANUAL = "manual"
    """``trainsmart retrain``."""


@dataclass(frozen=True)
class Job:
    id: int
    model: str
    status: JobStatus
    reason: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    pid: int | None
    log_path: str | None
    result: dict[str, Any] | None
    trigger: Trigger = Trigger.DRIFT
    actor: str = "monitor"
    champion_version: str | None = None
    """The production version when the job was created (then: the one it was compared with)."""
    version: str | None = None
    """The version the job registered (promoted, or set as shadow candidate)."""
    host: str | None = None
    """The machine ``pid`` belongs to (None: recorded before schema 0002, or no pid)."""

    @property
    def outcome(self) -> str:
        """The reason of a finished job's result (or its error); '' before it finishes."""
        result = self.result or {}
        return str(result.get("reason") or result.get("error") or "")


def _job(r: Row) -> Job:
    return Job(
        id=r["id"],
        model=r["model"],
        status=JobStatus(r["status"]),
        reason=r["reason"],
        created_at=r["created_at"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        pid=r["pid"],
        log_path=r["log_path"],
        result=json.loads(r["result"]) if r["result"] else None,
        trigger=Trigger(r["trigger"]),
        actor=r["actor"],
        champion_version=r["champion_version"],
        version=r["version"],
        host=r["host"],
    )


class JobStore:
    """Jobs with at most one queued or running per model (a unique partial index)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        model: str,
        reason: str,
        *,
        trigger: Trigger = Trigger.DRIFT,
        actor: str = "monitor",
        champion_version: str | None = None,
        running_pid: int | None = None,
        log_path: str | None = None,
    ) -> Job | None:
        """Queue a job (audited); None if one is already in flight for ``model``.

        With ``running_pid`` the job is created already running in that process (a
        manual ``trainsmart retrain``), so no monitor ever sees it queued and starts it.
        """
        now = time.time()
        status = JobStatus.QUEUED if running_pid is None else JobStatus.RUNNING
        try:
            with self.db.transaction() as conn:
                cur = conn.execute(
                    "INSERT INTO jobs (model, status, reason, created_at, started_at, pid,"
                    " host, log_path, trigger, actor, champion_version)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        model,
                        status.value,
                        reason,
                        now,
                        None if running_pid is None else now,
                        running_pid,
                        None if running_pid is None else socket.gethostname(),
                        log_path,
                        Trigger(trigger).value,
                        actor,
                        champion_version,
                    ),
                )
                job_id = int(cur.fetchone()[0])
                why = f"job {job_id} ({Trigger(trigger).value}): {reason}"
                write_audit(conn, model, "retrain-requested", champion_version, None, actor, why)
        except self.db.IntegrityError:
            return None
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        r = self.db.connection().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if r is None:
            raise NotFound(f"retrain job {job_id} does not exist; 'trainsmart jobs' lists them")
        return _job(r)

    def list(self, model: str | None = None, limit: int = 50) -> list[Job]:
        """Jobs, newest first (of ``model`` when given)."""
        sql = "SELECT * FROM jobs" + (" WHERE model = ?" if model else "")
        args: tuple[Any, ...] = (model,) if model else ()
        rows = self.db.connection().execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [_job(r) for r in rows]

    def in_flight(self, model: str) -> Job | None:
        r = (
            self.db.connection()
            .execute(
                "SELECT * FROM jobs WHERE model = ? AND status IN ('queued', 'running')", (model,)
            )
            .fetchone()
        )
        return _job(r) if r else None

    def mark_running(self, job_id: int, pid: int, log_path: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, started_at = ?, pid = ?, host = ?, log_path = ?"
                " WHERE id = ?",
                (JobStatus.RUNNING.value, time.time(), pid, socket.gethostname(), log_path, job_id),
            )

    def finish(self, job_id: int, status: JobStatus, result: dict[str, Any] | None = None) -> None:
        """Set a final status once (audited); a job already finished keeps its first outcome.

        ``result["champion_version"]`` and ``result["version"]`` (a retrain outcome has
        both) are also stored in their columns.
        """
        if not status.finished:
            raise ValueError(f"{status} is not a final job status")
        result = result or {}
        champion, version = result.get("champion_version"), result.get("version")
        with self.db.transaction() as conn:
            changed = conn.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, result = ?,"
                " champion_version = COALESCE(?, champion_version), version = ?"
                " WHERE id = ? AND status IN ('queued', 'running')",
                (status.value, time.time(), json.dumps(result), champion, version, job_id),
            ).rowcount
            if changed:
                row = conn.execute(
                    "SELECT model, champion_version FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()
                why = result.get("reason") or result.get("error") or "no reason recorded"
                write_audit(
                    conn,
                    row["model"],
                    f"retrain-{status.value}",
                    row["champion_version"],
                    version,
                    f"retrain-job:{job_id}",
                    f"job {job_id}: {why}",
                )

    def counts(self, model: str | None = None) -> dict[str, int]:
        """Jobs per status (of ``model`` when given); statuses without a job are left out."""
        sql = "SELECT status, count(*) FROM jobs" + (" WHERE model = ?" if model else "")
        rows = self.db.connection().execute(sql + " GROUP BY status", (model,) if model else ())
        return {r[0]: int(r[1]) for r in rows}

    def last_created(self, model: str) -> Job | None:
        r = (
            self.db.connection()
            .execute("SELECT * FROM jobs WHERE model = ? ORDER BY id DESC LIMIT 1", (model,))
            .fetchone()
        )
        return _job(r) if r else None
