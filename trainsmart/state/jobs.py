"""The retrain jobs table: queued -> running -> succeeded | rejected | failed."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from trainsmart.errors import NotFound
from trainsmart.state.db import Database


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.REJECTED, JobStatus.FAILED)


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


def _job(r: sqlite3.Row) -> Job:
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
    )


class JobStore:
    """Jobs with at most one queued or running per model (a unique partial index)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, model: str, reason: str) -> Job | None:
        """Queue a job; None if one is already in flight for ``model``."""
        try:
            with self.db.transaction() as conn:
                cur = conn.execute(
                    "INSERT INTO jobs (model, status, reason, created_at) VALUES (?, ?, ?, ?)",
                    (model, JobStatus.QUEUED.value, reason, time.time()),
                )
                job_id = cur.lastrowid
        except sqlite3.IntegrityError:
            return None
        assert job_id is not None
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        r = self.db.connection().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if r is None:
            raise NotFound(f"retrain job {job_id} does not exist; 'trainsmart jobs' lists them")
        return _job(r)

    def list(self, model: str | None = None, limit: int = 50) -> list[Job]:
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
                "UPDATE jobs SET status = ?, started_at = ?, pid = ?, log_path = ? WHERE id = ?",
                (JobStatus.RUNNING.value, time.time(), pid, log_path, job_id),
            )

    def finish(self, job_id: int, status: JobStatus, result: dict[str, Any] | None = None) -> None:
        """Set a final status once; a job already finished keeps its first outcome."""
        if not status.finished:
            raise ValueError(f"{status} is not a final job status")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, result = ?"
                " WHERE id = ? AND status IN ('queued', 'running')",
                (status.value, time.time(), json.dumps(result or {}), job_id),
            )

    def counts(self) -> dict[str, int]:
        rows = self.db.connection().execute("SELECT status, count(*) FROM jobs GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}

    def last_created(self, model: str) -> Job | None:
        r = (
            self.db.connection()
            .execute("SELECT * FROM jobs WHERE model = ? ORDER BY id DESC LIMIT 1", (model,))
            .fetchone()
        )
        return _job(r) if r else None
