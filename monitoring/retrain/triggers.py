"""The one door every automatic retrain goes through: drift, the webhook and the schedule.

Each trigger names its kind (``drift``, ``webhook``, ``schedule``), who (``monitor``,
``alertmanager``) and why; :meth:`RetrainTrigger.request` applies the same rules to all
of them, in this order, and answers why it did or did not queue a job:

1. ``monitoring.retrain_enabled``;
2. single flight: no other job of the model queued or running (also a unique index in
   the jobs table, so two processes cannot both win);
3. cooldown: ``monitoring.cooldown_s`` since the last job was created;
4. labels: at least ``monitoring.min_labelled_rows`` labelled rows in the input log
   (default ``training.retrain.min_labelled_rows``, in the scope as
   ``retrain.min_labelled_rows``), else "waiting for labels".

The job is only queued here; the monitor starts it (at once for its own triggers, at its
next check for the webhook's, which runs on the HTTP thread). ``trainsmart retrain`` by
hand does not come through here: an operator may retrain whenever they choose.

Example::

    trigger = RetrainTrigger(scope, registry, input_log, jobs, policy, metrics)
    decision = trigger.request(Trigger.WEBHOOK, "alert TrainsmartDatasetDrift firing",
                               actor="alertmanager")
    decision.job        # the queued Job, or None
    decision.reason     # why it was queued, or why not ("waiting for labels: 12 ...")
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitoring.metrics import MonitorMetrics
from monitoring.retrain.policy import RetrainPolicy
from monitoring.settings import MonitoringScope
from trainsmart.registry.store import Registry
from trainsmart.state.inputlog import InputLog, LoggedRow
from trainsmart.state.jobs import Job, JobStore, Trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """What a trigger request came to."""

    job: Job | None
    """The queued job (None: nothing started)."""
    reason: str
    """Why the job was queued (stored on it), or why none was."""

    @property
    def started(self) -> bool:
        return self.job is not None


def usable_label(row: LoggedRow) -> bool:
    """Whether retraining can learn from ``row``'s label: any label for a class, a finite
    number for a regression (its prediction has a ``value``); as ``training.retrain`` counts."""
    if row.label is None:
        return False
    if "value" not in row.prediction:
        return True
    try:
        return math.isfinite(float(row.label))
    except ValueError:
        return False


class RetrainTrigger:
    """Queues retrain jobs for ``scope.model_name`` when the rules above allow.

    Thread-safe: the monitor loop and the webhook's HTTP thread share one instance.
    """

    def __init__(
        self,
        scope: MonitoringScope,
        registry: Registry,
        input_log: InputLog,
        jobs: JobStore,
        policy: RetrainPolicy,
        metrics: MonitorMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = scope.monitoring
        self.model = scope.model_name
        self.recent_rows = scope.retrain.recent_rows
        self.registry = registry
        self.input_log = input_log
        self.jobs = jobs
        self.policy = policy
        self.metrics = metrics
        self.clock = clock
        self._lock = threading.Lock()

    @property
    def min_labelled_rows(self) -> int:
        return self.policy.min_labelled_rows

    def labelled_rows(self) -> int:
        """Usable labelled rows among the ones a retrain would read (the latest
        ``training.retrain.recent_rows``)."""
        return sum(usable_label(r) for r in self.input_log.labelled(self.model, self.recent_rows))

    def request(self, trigger: Trigger, reason: str, *, actor: str) -> Decision:
        """Queue a job with ``trigger``, ``actor`` and ``reason`` if the rules allow."""
        with self._lock:
            decision = self._decide(trigger, reason, actor)
        if decision.job is None:
            log.info("%s: %s retrain not started: %s", self.model, trigger.value, decision.reason)
        else:
            if self.metrics is not None:
                self.metrics.job_transition(decision.job.status)
            log.info(
                "%s: retrain job %d queued (%s by %s): %s",
                self.model,
                decision.job.id,
                trigger.value,
                actor,
                reason,
            )
        return decision

    def _decide(self, trigger: Trigger, reason: str, actor: str) -> Decision:
        if not self.config.retrain_enabled:
            return Decision(
                None,
                "monitoring.retrain_enabled is off: the monitor only measures; turn it on "
                "or run 'trainsmart retrain'",
            )
        in_flight = self.jobs.in_flight(self.model)
        last = self.jobs.last_created(self.model)
        ok, why = self.policy.allowed(
            self.clock(),
            None if last is None else last.created_at,
            in_flight is not None,
            None if in_flight is not None else self.labelled_rows(),
        )
        if not ok:
            if in_flight is not None:
                why = f"{why} (job {in_flight.id}, {in_flight.status.value})"
            return Decision(None, why)
        job = self.jobs.create(
            self.model,
            reason,
            trigger=trigger,
            actor=actor,
            champion_version=self.registry.production(self.model),
        )
        if job is None:
            return Decision(None, "another retrain job became queued or running meanwhile")
        return Decision(job, reason)
