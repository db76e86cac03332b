"""Shared state in one database: input log, feedback, pointers, audit, jobs, shadow
predictions, leases. SQLite (WAL) on one machine; PostgreSQL (``database_url``) for
several replicas; one Alembic schema for both (``migrations/``).

Serving writes the input log and the candidate's shadow predictions; the monitor
reads windows of it; retraining reads labelled rows; the registry keeps production
and candidate pointers and the audit log; the monitor records retrain jobs. Each
table has one owner module here (the pointers' owner is ``trainsmart.registry``).
"""

from trainsmart.state.connect import open_database, open_url
from trainsmart.state.db import Database
from trainsmart.state.inputlog import InputLog, LoggedRow
from trainsmart.state.jobs import Job, JobStatus, JobStore, Trigger
from trainsmart.state.shadowlog import ShadowLog, ShadowPair, agreement
from trainsmart.state.sqlite import SqliteDatabase

__all__ = [
    "Database",
    "InputLog",
    "Job",
    "JobStatus",
    "JobStore",
    "LoggedRow",
    "ShadowLog",
    "ShadowPair",
    "SqliteDatabase",
    "Trigger",
    "agreement",
    "open_database",
    "open_url",
]
