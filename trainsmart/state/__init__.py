"""Shared state in one SQLite database (WAL): input log, feedback, pointers, audit, jobs.

Serving writes the input log; the monitor reads windows of it; retraining reads
labelled rows; the registry keeps production pointers and the audit log; the
monitor records retrain jobs. Each table has one owner module here.
"""

from trainsmart.state.db import Database
from trainsmart.state.inputlog import InputLog, LoggedRow
from trainsmart.state.jobs import Job, JobStatus, JobStore

__all__ = ["Database", "InputLog", "Job", "JobStatus", "JobStore", "LoggedRow"]
