"""``trainsmart monitor``: the drift monitor as its own process."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from trainsmart.cli.context import AppContext

logger = logging.getLogger("trainsmart.monitor")


def print_reports(app: AppContext) -> None:
    """The kept Evidently reports of ``model_name``, newest first, and the URL of the latest."""
    from monitoring.reports import ReportStore

    settings = app.settings
    store = ReportStore(
        settings.data_dir / "monitoring" / "reports",
        settings.model_name,
        settings.monitoring.reports_keep,
    )
    files = store.all()
    if not files:
        click.echo(
            f"no drift reports for {settings.model_name} yet in {store.folder}: one is written "
            "when a window drifts (monitoring.report_every_window writes one per window)"
        )
        return
    for path in files:
        click.echo(str(path))
    host, port = settings.monitoring.host, settings.monitoring.port
    click.echo(f"latest, while the monitor runs: http://{host}:{port}/report")


def print_rendered_job(app: AppContext, job_id: int | None, namespace: str | None) -> None:
    """The Kubernetes Job of retrain job ``job_id`` (or of an example job) as YAML; the
    database URL appears only as a reference to its Secret."""
    import yaml

    from monitoring.kubernetes_render import example_job, render_job

    settings = app.settings
    if job_id is not None:
        job = app.jobs.get(job_id)
    else:
        job = example_job(settings, "example: trainsmart monitor render-job")
    chosen = namespace or settings.monitoring.kubernetes.namespace or "default"
    click.echo(yaml.safe_dump(render_job(settings, job, chosen), sort_keys=False), nl=False)


def run_monitor(app: AppContext, *, once: bool) -> None:
    from prometheus_client import CollectorRegistry

    from monitoring.leader import Leadership
    from monitoring.metrics import MonitorMetrics
    from monitoring.monitor import Monitor
    from monitoring.runner import lower_priority, make_runner
    from monitoring.server import start_metrics_server
    from monitoring.webhook import AlertmanagerWebhook
    from trainsmart.state.alerts import AlertLedger
    from trainsmart.state.leases import Lease

    settings = app.settings
    niceness = lower_priority(settings.monitoring.niceness)
    metrics_registry = CollectorRegistry()
    runner = make_runner(settings, app.jobs)
    monitor = Monitor(
        settings,
        app.registry,
        app.input_log,
        app.jobs,
        runner,
        MonitorMetrics(metrics_registry),
    )
    leadership = Leadership(
        Lease(app.db, f"monitor:{settings.model_name}", ttl_s=settings.monitoring.leader_lease_s),
        monitor.metrics,
        settings.model_name,
    )
    if once:  # one check, and only if no running monitor leads (it would act twice)
        if not leadership.lead():
            click.echo(f"a running monitor leads {settings.model_name}; nothing checked")
            return
        try:
            for window in monitor.check_once():
                click.echo(str(window))
        finally:
            leadership.release()
        return
    webhook = AlertmanagerWebhook(settings, monitor.trigger, AlertLedger(app.db), monitor.metrics)
    server, _thread = start_metrics_server(
        settings,
        metrics_registry,
        reports=monitor.reports,
        posts={"/webhook/alertmanager": webhook.handle},
    )
    base = f"http://{settings.monitoring.host}:{settings.monitoring.port}"
    click.echo(
        f"monitoring {settings.model_name}: windows of {settings.monitoring.window_rows} rows, "
        f"metrics on {base}/metrics, the latest drift report on {base}/report, the "
        f"Alertmanager webhook on {base}/webhook/alertmanager"
        + ("" if settings.monitoring.webhook_token else " (disabled: no monitoring.webhook_token)")
        + f"; CPU priority: nice {niceness} (monitoring.niceness)"
    )
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping after the current check", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        monitor.run(stop, leadership)
    finally:
        # retrain jobs run in their own session: a signal to the monitor does not reach them
        runner.stop()
        server.shutdown()
        server.server_close()
