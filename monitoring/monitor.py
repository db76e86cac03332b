"""The drift monitor: tumbling windows of logged inputs -> Evidently -> metrics -> retrain.

Each check looks at the production version of ``scope.model_name``; its
windows hold only rows that version served. Every complete window of
``window_rows`` rows is compared with the version's reference sample, written
to the drift journal and fed to the retrain policy; an incomplete window waits
for the next check. Before the windows, the retrain supervisor reaps, recovers, judges
and schedules retrain jobs (``monitoring/retrain/supervisor.py``); its trigger is shared
with the Alertmanager webhook (``monitor.trigger``). ``apps/monitor.py`` wires the process.

Example::

    scope = settings.monitoring_scope()
    monitor = Monitor(scope, registry, InputLog(db), JobStore(db),
                      SubprocessJobRunner(scope, JobStore(db)), MonitorMetrics(prom))
    monitor.run(stop_event)      # check every interval_s until stop_event is set
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from monitoring.drift.detector import DriftDetector
from monitoring.drift.options import DriftOptions
from monitoring.drift.results import DriftResult
from monitoring.drift.window import WindowCheck
from monitoring.errors import MonitoringError
from monitoring.estimate.window import WindowEstimator
from monitoring.judge.live import live_metrics
from monitoring.leader import Leadership
from monitoring.metrics import MonitorMetrics
from monitoring.records.journal import DriftJournal, VersionCursor, WindowResult
from monitoring.records.reports import ReportStore
from monitoring.retrain.harm import HarmRule
from monitoring.retrain.policy import RetrainPolicy
from monitoring.retrain.supervisor import RetrainSupervisor
from monitoring.runners.base import JobRunner
from monitoring.settings import MonitoringScope
from trainsmart.registry.contract import InputContract
from trainsmart.registry.store import Registry
from trainsmart.state.cursors import DriftCursors
from trainsmart.state.inputlog import InputLog
from trainsmart.state.jobs import JobStore

log = logging.getLogger(__name__)


class Monitor:
    """Checks complete windows of the production version and triggers retrains.

    ``clock`` must be wall time (job timestamps in the job store use time.time()).
    """

    def __init__(
        self,
        scope: MonitoringScope,
        registry: Registry,
        input_log: InputLog,
        jobs: JobStore,
        runner: JobRunner,
        metrics: MonitorMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scope = scope
        self.config = scope.monitoring
        self.model = scope.model_name
        self.registry = registry
        self.input_log = input_log
        self.jobs = jobs
        self.runner = runner
        self.metrics = metrics
        self.clock = clock
        self.journal = DriftJournal(scope.paths.monitoring, self.model, DriftCursors(jobs.db))
        min_labels = self.config.min_labelled_rows
        self.harm = HarmRule.from_settings(self.config)  # drift, estimated harm or both
        self.estimator = WindowEstimator(self.model, metrics.estimates, self.config)
        self.policy = RetrainPolicy(
            self.harm.windows(self.config.consecutive_windows),
            self.config.cooldown_s,
            scope.retrain.min_labelled_rows if min_labels is None else min_labels,
        )
        self.supervisor = RetrainSupervisor(
            scope, registry, input_log, jobs, runner, metrics, self.policy, self.journal, clock
        )
        self.trigger = self.supervisor.trigger  # shared with the webhook (retrain/webhook.py)
        self.version: str | None = None
        self.contract: InputContract | None = None
        self.detector: DriftDetector | None = None
        self.window_check: WindowCheck | None = None
        self.reports = ReportStore(
            scope.paths.monitoring / "reports", self.model, self.config.reports_keep
        )
        self.cursor = VersionCursor()
        self.leadership: Leadership | None = None
        """Set by :meth:`run`: the lease is renewed before each further window."""

    def check_once(self) -> list[WindowResult]:
        """Supervise retrain jobs, then check every complete window not checked yet."""
        self.supervisor.tick()
        self._live()
        version = self.registry.production(self.model)
        if version is None:
            log.info("no production version of %s yet; nothing to monitor", self.model)
            return []
        if version != self.version:
            self._switch(version)
        results: list[WindowResult] = []
        settle = self.config.settle_s if self.input_log.db.dialect == "postgresql" else 0.0
        while True:
            if results and self.leadership is not None and not self.leadership.lead():
                return results  # lost the lease mid-backlog: the new leader goes on
            rows = self.input_log.window(
                self.model,
                version,
                after_id=self.cursor.after_id,
                limit=self.config.window_rows,
                logged_before=self.clock() - settle if settle else None,
            )
            if len(rows) < self.config.window_rows and not self._closed_by_time(rows):
                log.debug(
                    "%s:%s has %d of %d rows for the next window",
                    self.model,
                    version,
                    len(rows),
                    self.config.window_rows,
                )
                return results
            try:
                results.append(self._check_window(version, rows))
            except MonitoringError as exc:  # this window cannot be compared: skip, never stall
                self._skip_window(version, rows, exc)

    def _live(self) -> None:
        """Export each version's metric on its latest labelled rows; never raises."""
        window = self.config.live_window_rows
        try:
            labelled = self.input_log.labelled(self.model, window * 4)
            for live in live_metrics(labelled, window):
                self.metrics.live_metric.labels(self.model, live.version, live.metric).set(
                    live.value
                )
                self.metrics.labelled_rows.labels(self.model, live.version).set(live.rows)
        except Exception:
            log.exception("%s: the live labelled metric could not be computed", self.model)

    def _closed_by_time(self, rows: list[Any]) -> bool:
        """A partial window closes once its first row is ``window_seconds`` old, if it has
        at least ``min_window_rows`` rows (otherwise it keeps waiting for rows)."""
        span = self.config.window_seconds
        return (
            span is not None
            and len(rows) >= self.config.min_window_rows
            and self.clock() - rows[0].ts >= span
        )

    def run(self, stop: threading.Event, leadership: Leadership | None = None) -> None:
        """Check every ``interval_s`` until ``stop`` is set; a failing check is only logged.
        With ``leadership``, only while this monitor holds the lease (released on the way
        out)."""
        log.info("monitoring %s every %gs", self.model, self.config.interval_s)
        self.leadership = leadership
        try:
            while not stop.is_set():
                was_leading = leadership is None or leadership.leading
                if leadership is None or leadership.lead():
                    if not was_leading:  # another monitor led meanwhile: reload its cursor
                        self.version = None
                    try:
                        self.check_once()
                    except Exception:
                        log.exception(
                            "drift check of %s failed; retrying in %gs",
                            self.model,
                            self.config.interval_s,
                        )
                stop.wait(self.config.interval_s)
        finally:
            if leadership is not None:
                leadership.release()

    # -- internals ------------------------------------------------------------------------
    def _switch(self, version: str) -> None:
        bundle = self.registry.get(self.model, version)
        contract = bundle.contract()
        options = DriftOptions(
            self.config.drift_share,
            dict(self.config.drift_methods),
            dict(self.config.drift_thresholds),
        )
        self.detector = DriftDetector(bundle.reference(), contract, options)
        self.window_check = WindowCheck(self.detector, bundle, self.reports, self.config)
        self.estimator.switch(bundle)
        self.contract = contract
        self.version = version
        self.cursor = self.journal.resume(version)
        self.policy.reset(version)
        self.policy.streak = self.cursor.streak
        log.info(
            "monitoring %s:%s from input-log row %d (window %d)",
            self.model,
            version,
            self.cursor.after_id,
            self.cursor.windows,
        )

    def _check_window(self, version: str, rows: list[Any]) -> WindowResult:
        """Compare, journal and count one window; its cursor and streak are saved once.

        A window that cannot be compared raises MonitoringError (the caller skips it).
        If anything else fails before the cursor is saved, the policy's streak goes back
        to the saved one, so a retried window never counts twice.
        """
        try:
            return self._record_window(version, rows, self._compare(version, rows))
        except BaseException:
            self.policy.streak = self.cursor.streak
            raise

    def _compare(self, version: str, rows: list[Any]) -> DriftResult:
        assert self.window_check is not None
        try:
            return self.window_check.run(version, self.cursor.windows, rows)
        except MonitoringError:
            raise
        except Exception as exc:  # Evidently or a malformed logged row: skip, never stall
            raise MonitoringError(
                f"{self.model}:{version} window {self.cursor.windows} (input-log rows "
                f"{rows[0].id}-{rows[-1].id}) could not be compared with the reference: "
                f"{type(exc).__name__}: {exc}; the window is skipped, check the logged inputs "
                "against the input contract and the installed Evidently version"
            ) from exc

    def _record_window(self, version: str, rows: list[Any], drift: DriftResult) -> WindowResult:
        now = self.clock()
        found = self.estimator.run(rows)
        drifted = drift.dataset_drift
        triggered, verdict = self.harm.observe(self.policy, version, drifted, found, now)
        job, note = self.supervisor.on_drift() if triggered else (None, None)
        if job is not None:
            self.policy.reset(self.version)  # the next trigger needs K fresh drifted windows
        result = WindowResult(
            model=self.model,
            version=version,
            index=self.cursor.windows,
            first_id=rows[0].id,
            last_id=rows[-1].id,
            first_ts=rows[0].ts,
            last_ts=rows[-1].ts,
            checked_at=now,
            drift=drift,
            job_id=None if job is None else job.id,
            retrain=note,
            estimate=None if found is None else found.to_dict(),
            decision=verdict.reason,
        )
        self.journal.append({**result.to_dict(), "streak": self.policy.streak})
        self.cursor = VersionCursor(
            after_id=rows[-1].id, windows=self.cursor.windows + 1, streak=self.policy.streak
        )
        self.journal.save(version, self.cursor)
        self.metrics.observe(self.model, drift, now, version=version)
        log.info(
            "%s:%s window %d: drift share %.2f, dataset drift %s%s",
            self.model,
            version,
            result.index,
            drift.drift_share,
            drift.dataset_drift,
            "" if job is None else f", retrain job {job.id}",
        )
        return result

    def _skip_window(self, version: str, rows: list[Any], exc: MonitoringError) -> None:
        log.error("%s:%s window %d skipped: %s", self.model, version, self.cursor.windows, exc)
        self.journal.append(
            {
                "model": self.model,
                "version": version,
                "window": self.cursor.windows,
                "first_id": rows[0].id,
                "last_id": rows[-1].id,
                "ts": self.clock(),
                "error": exc.message,
                "job_id": None,
                "streak": self.cursor.streak,
            }
        )
        self.cursor = VersionCursor(rows[-1].id, self.cursor.windows + 1, self.cursor.streak)
        self.journal.save(version, self.cursor)
