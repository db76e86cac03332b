"""A tracked retrain job: its trigger when it starts, the gate's verdict when it ends.

Example (``training.retrain.run_retrain``)::

    with retrain_run(settings, input_log.db, job_id) as run:
        outcome = ...                           # train (run.epoch), stage (run.staged), gate
        run.verdict(outcome.to_dict(), registry)

Tags: ``trainsmart.trigger`` (drift, webhook, schedule, manual: from the jobs table),
``trainsmart.job_id``, ``trainsmart.job_reason``, ``trainsmart.champion``, and at the end
``trainsmart.verdict`` (promoted, shadow or rejected) with ``trainsmart.verdict_reason``;
the scores of champion and challenger on the holdout and the test split are metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from training.settings import TrainingScope
from training.tracking.base import never_raises
from training.tracking.factory import base_tags
from training.tracking.runs import TrainingRun, start
from trainsmart.registry.store import Registry
from trainsmart.state.db import Database
from trainsmart.state.jobs import JobStore

SCORES = {
    "champion_metrics": "holdout.champion",
    "challenger_metrics": "holdout.challenger",
    "champion_test_metrics": "test.champion",
    "challenger_test_metrics": "test.challenger",
}
"""RetrainOutcome field -> metric prefix in the run."""


class RetrainRun(TrainingRun):
    """The run of one retrain job."""

    @never_raises
    def verdict(self, outcome: Mapping[str, Any], registry: Registry) -> None:
        """The gate's decision (``RetrainOutcome.to_dict()``): verdict and reason as tags,
        both models' scores as metrics; a registered challenger is linked as in
        :meth:`TrainingRun.registered`."""
        if not self.active:
            return
        tags = {
            "trainsmart.verdict": str(outcome.get("status")),
            "trainsmart.verdict_reason": str(outcome.get("reason")),
            "trainsmart.retrain_metric": str(outcome.get("metric")),
            "trainsmart.champion": str(outcome.get("champion_version") or ""),
        }
        self.tracker.set_tags(tags)
        metrics = {
            f"{prefix}.{name}": float(value)
            for field, prefix in SCORES.items()
            for name, value in (outcome.get(field) or {}).items()
            if isinstance(value, int | float)
        }
        rows = {f"rows.{k}": float(v) for k, v in (outcome.get("rows") or {}).items()}
        self.tracker.log_metrics({**metrics, **rows})
        version = outcome.get("version")
        if version:
            try:
                bundle = registry.get(self.settings.model_name, str(version))
            except Exception:  # the verdict is logged; a missing bundle is the registry's
                return
            self.registered(bundle)


def retrain_run(settings: TrainingScope, db: Database, job_id: int | None) -> RetrainRun:
    """Open the run of retrain job ``job_id``, tagged with what triggered the job (read
    from the jobs table in ``db``; 'manual' without a job, 'unknown' for a job the table
    does not hold)."""
    tags = {**base_tags(settings, "retrain"), "trainsmart.trigger": "manual"}
    if job_id is not None:
        tags["trainsmart.job_id"] = str(job_id)
        try:
            job = JobStore(db).get(job_id)
        except Exception:  # tracking never fails training: a job that cannot be read
            tags["trainsmart.trigger"] = "unknown"
        else:
            tags.update(
                {
                    "trainsmart.trigger": job.trigger.value,
                    "trainsmart.job_reason": job.reason,
                    "trainsmart.actor": job.actor,
                }
            )
    run = start(settings, f"retrain job {job_id}" if job_id is not None else "retrain", tags)
    return RetrainRun(run.tracker, settings)
