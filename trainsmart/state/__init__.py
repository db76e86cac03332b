"""Shared state in one SQLite database (WAL): input log, feedback, pointers, audit, jobs,
shadow predictions.

Serving writes the input log and the candidate's shadow predictions; the monitor
reads windows of it; retraining reads labelled rows; the registry keeps production
and candidate pointers and the audit log; the monitor records retrain jobs. Each
table has one owner module here (the pointers' owner is ``trainsmart.registry``).
"""

from trainsmart.state.db import Database
from trainsmart.state.inputlog import InputLog, LoggedRow
from trainsmart.state.jobs import Job, JobStatus, JobStore, Trigger
from trainsmart.state.shadowlog import ShadowLog, ShadowPair, agreement

__all__ = [
    "Database",
    "InputLog",
    "Job",
    "JobStatus",
    "JobStore",
    "LoggedRow",
    "ShadowLog",
    "ShadowPair",
    "Trigger",
    "agreement",
]
