"""The monitor process, wired: the counterpart of ``serving/service.py`` on the top floor.

From the whole file's settings it takes the monitor's scope (``settings.monitoring_scope()``)
and builds what the process runs: the job runner ``monitoring.job_runner`` names, the
:class:`~monitoring.monitor.Monitor`, its Prometheus registry and lease, and (when it runs
for good) the HTTP endpoint with metrics, the latest report and the Alertmanager webhook.
``trainsmart monitor`` (``apps/cli/monitor.py``) calls it.

Example::

    process = MonitorProcess.build(load_settings(), db, registry)
    process.check_once()            # one check, unless another monitor leads
    process.run(stop_event)         # serve and check until stop_event is set
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.leader import Leadership
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.records.journal import WindowResult
from monitoring.retrain.webhook import AlertmanagerWebhook
from monitoring.runners.base import JobRunner
from monitoring.runners.factory import make_runner
from monitoring.runners.process import lower_priority
from monitoring.server import start_metrics_server
from monitoring.settings import MonitoringScope
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStore
from trainsmart.state.alerts import AlertLedger
from trainsmart.state.leases import Lease

log = logging.getLogger("trainsmart.monitor")

WEBHOOK_PATH = "/webhook/alertmanager"


@dataclass
class MonitorProcess:
    """The monitor's objects for one process."""

    scope: MonitoringScope
    db: Database
    monitor: Monitor
    runner: JobRunner
    leadership: Leadership
    metrics_registry: CollectorRegistry
    niceness: int
    """This process's nice value (``monitoring.niceness``; its retrain jobs inherit it)."""

    @classmethod
    def build(cls, settings: Settings, db: Database, registry: Registry) -> MonitorProcess:
        """Lower this process's CPU priority, then build the monitor of ``model_name``."""
        scope = settings.monitoring_scope()
        niceness = lower_priority(scope.monitoring.niceness)
        metrics_registry = CollectorRegistry()
        jobs = JobStore(db)
        runner = make_runner(scope, jobs)
        monitor = Monitor(
            scope, registry, InputLog(db), jobs, runner, MonitorMetrics(metrics_registry)
        )
        lease = Lease(db, f"monitor:{scope.model_name}", ttl_s=scope.monitoring.leader_lease_s)
        leadership = Leadership(lease, monitor.metrics, scope.model_name)
        return cls(scope, db, monitor, runner, leadership, metrics_registry, niceness)

    def check_once(self) -> list[WindowResult] | None:
        """One check, only if no running monitor leads (it would act twice); None if one
        does."""
        if not self.leadership.lead():
            return None
        try:
            return self.monitor.check_once()
        finally:
            self.leadership.release()

    def start_server(self) -> WSGIServer:
        """Metrics, reports and the Alertmanager webhook on ``monitoring.host:port``."""
        webhook = AlertmanagerWebhook(
            self.scope, self.monitor.trigger, AlertLedger(self.db), self.monitor.metrics
        )
        server, _thread = start_metrics_server(
            self.scope.monitoring,
            self.metrics_registry,
            reports=self.monitor.reports,
            posts={WEBHOOK_PATH: webhook.handle},
        )
        return server

    def describe(self) -> str:
        """One line: what is monitored and where its endpoints are."""
        config = self.scope.monitoring
        base = f"http://{config.host}:{config.port}"
        return (
            f"monitoring {self.scope.model_name}: windows of {config.window_rows} rows, "
            f"metrics on {base}/metrics, the latest drift report on {base}/report, the "
            f"Alertmanager webhook on {base}{WEBHOOK_PATH}"
            + ("" if config.webhook_token else " (disabled: no monitoring.webhook_token)")
            + f"; CPU priority: nice {self.niceness} (monitoring.niceness)"
        )

    def run(self, stop: threading.Event, announce: Callable[[str], None] = log.info) -> None:
        """Serve the endpoint and check every ``interval_s`` until ``stop`` is set; then
        stop the retrain jobs (they run in their own session: a signal to the monitor does
        not reach them) and the endpoint. ``announce`` gets :meth:`describe` once serving."""
        server = self.start_server()
        announce(self.describe())
        try:
            self.monitor.run(stop, self.leadership)
        finally:
            self.runner.stop()
            server.shutdown()
            server.server_close()
