"""Everything the monitor does about retrain jobs each cycle, apart from drift windows.

:meth:`RetrainSupervisor.tick`, once per check, before the windows:

1. reap: jobs the runner saw finish are counted (``trainsmart_retrain_jobs_total``);
2. recover: an in-flight job this monitor does not run is resumed or failed. A queued
   one (the webhook's, or one a stopped monitor never started) is started; a running one
   whose process is gone, or older than ``job_timeout_s``, is failed with the reason (a
   live one is left to finish: the job writes its own outcome). A job with pid 0 runs on
   no process of this machine (a Kubernetes Job, which the Kubernetes runner adopts), so
   only the timeout applies to it. The jobs table's unique in-flight index keeps a
   restarted monitor from starting a second job meanwhile;
3. judge: the promotion now in production may be rolled back
   (``monitoring/judge/rollback.py``) and a retrained shadow candidate promoted or cleared
   (``monitoring/judge/shadow_gate.py``);
4. schedule: with ``monitoring.retrain_every_s``, a job is requested once that long has
   passed since the last one (or since the monitor started);
5. export: ``trainsmart_retrain_jobs_by_status{status}`` and
   ``trainsmart_last_promotion_timestamp_seconds{model}``.

Each step is logged and skipped on error, so one failing step never stalls the others.
Drift windows reach it through :meth:`on_drift`.

Example::

    supervisor = RetrainSupervisor(scope, registry, input_log, jobs, runner, metrics,
                                   policy, journal)
    supervisor.tick()                      # every check
    job, note = supervisor.on_drift()      # when the policy's K drifted windows are met
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

from monitoring.judge.rollback import RollbackGuard
from monitoring.judge.shadow_gate import ShadowGate
from monitoring.metrics import MonitorMetrics
from monitoring.records.journal import DriftJournal
from monitoring.retrain.policy import RetrainPolicy
from monitoring.retrain.triggers import RetrainTrigger
from monitoring.runners.base import JobRunner
from monitoring.runners.process import kill_process_group, pid_alive
from monitoring.settings import MonitoringScope
from trainsmart.registry.store import Registry
from trainsmart.state.inputlog import InputLog
from trainsmart.state.jobs import Job, JobStatus, JobStore, Trigger
from trainsmart.state.shadowlog import ShadowLog
from trainsmart.state.verdicts import PromotionChecks

log = logging.getLogger(__name__)


class RetrainSupervisor:
    """Starts, recovers, schedules and judges the retrain jobs of one model."""

    def __init__(
        self,
        scope: MonitoringScope,
        registry: Registry,
        input_log: InputLog,
        jobs: JobStore,
        runner: JobRunner,
        metrics: MonitorMetrics,
        policy: RetrainPolicy,
        journal: DriftJournal,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = scope.monitoring
        self.model = scope.model_name
        self.registry = registry
        self.jobs = jobs
        self.runner = runner
        self.metrics = metrics
        self.clock = clock
        self.trigger = RetrainTrigger(scope, registry, input_log, jobs, policy, metrics, clock)
        db = jobs.db
        self.rollback = RollbackGuard(
            scope, registry, input_log, PromotionChecks(db), metrics, journal, clock
        )
        self.shadow_gate = ShadowGate(scope, registry, input_log, ShadowLog(db))
        self.started_at = clock()
        self._schedule_note = ""
        metrics.rollbacks.labels(model=self.model)  # 0 from the start, for increase()

    def tick(self) -> None:
        """Steps 1-5 of the module docstring; never raises."""
        for step in (self._reap, self._recover, self._judge, self._schedule, self._export):
            try:
                step()
            except Exception:
                log.exception("%s: %s failed; the next check retries", self.model, step.__name__)

    def on_drift(self) -> tuple[Job | None, str]:
        """Request a drift-triggered job and start it; (job or None, why); never raises.

        A failure is logged and the window is recorded without a job (or with the job
        created before the failure, which the next checks start or fail).
        """
        try:
            decision = self.trigger.request(
                Trigger.DRIFT, self.trigger.policy.describe(), actor="monitor"
            )
        except Exception as exc:
            log.exception(
                "%s: retrain job could not be created; the next drifted window tries again",
                self.model,
            )
            return None, f"the job could not be created: {type(exc).__name__}: {exc}"
        if decision.job is not None:
            self.start(decision.job)
        return decision.job, decision.reason

    def start(self, job: Job) -> None:
        """Start a queued job with the runner; a failure leaves it queued (logged)."""
        try:
            self.runner.start(job)
            if self.jobs.get(job.id).status == JobStatus.RUNNING:
                self.metrics.job_transition(JobStatus.RUNNING)
        except Exception:
            log.exception(
                "%s: retrain job %d could not start; see its log; the next check tries "
                "again, and a job left queued is failed after job_timeout_s=%gs",
                self.model,
                job.id,
                self.config.job_timeout_s,
            )

    # -- the steps --------------------------------------------------------------------------
    def _reap(self) -> None:
        for job in self.runner.poll():
            self.metrics.job_transition(job.status)

    def _recover(self) -> None:
        job = self.jobs.in_flight(self.model)
        if job is None or self.runner.tracks(job.id):
            return
        timeout, now = self.config.job_timeout_s, self.clock()
        if job.status == JobStatus.QUEUED and now - job.created_at <= timeout:
            log.info("%s: starting queued retrain job %d (%s)", self.model, job.id, job.trigger)
            self.start(job)
            return
        # pid 0: no process on this machine (a Kubernetes Job that this monitor's runner
        # does not adopt, e.g. job_runner is now subprocess): only the timeout applies
        here = job.host is None or job.host == socket.gethostname()  # a pid of this machine
        if job.status == JobStatus.RUNNING and job.pid and here and not pid_alive(job.pid):
            error = f"its process {job.pid} is gone without an outcome (the monitor restarted?)"
        elif job.status == JobStatus.RUNNING and now - (job.started_at or job.created_at) > timeout:
            killed = job.pid is not None and here and kill_process_group(job.pid)
            error = (
                f"running for more than job_timeout_s={timeout:g}s with no monitor watching it"
                + (f"; its process group {job.pid} was killed" if killed else "")
            )
        elif job.status == JobStatus.QUEUED:
            error = f"queued for more than job_timeout_s={timeout:g}s"
        else:
            return  # running in a live process: it records its own outcome
        self.jobs.finish(job.id, JobStatus.FAILED, {"error": error})
        self.metrics.job_transition(JobStatus.FAILED)
        log.warning("%s: retrain job %d marked failed: %s", self.model, job.id, error)

    def _judge(self) -> None:
        self.rollback.check()
        self.shadow_gate.check()

    def _schedule(self) -> None:
        every = self.config.retrain_every_s
        if every is None or self.registry.production(self.model) is None:
            return
        last = self.jobs.last_created(self.model)
        since = self.started_at if last is None else last.created_at
        elapsed = self.clock() - since
        if elapsed < every:
            return
        what = "the monitor started" if last is None else f"job {last.id} was created"
        decision = self.trigger.request(
            Trigger.SCHEDULE,
            f"schedule: {elapsed:.0f}s since {what} (monitoring.retrain_every_s={every:g})",
            actor="monitor",
        )
        if decision.job is not None:
            self.start(decision.job)
        elif decision.reason != self._schedule_note:
            log.warning("%s: scheduled retrain waits: %s", self.model, decision.reason)
        self._schedule_note = "" if decision.job is not None else decision.reason

    def _export(self) -> None:
        self.metrics.job_counts(self.jobs.counts(self.model))
        promotions = self.registry.audit(self.model, limit=1, action="promote")
        if promotions:
            self.metrics.promoted_at(self.model, promotions[0].ts)
