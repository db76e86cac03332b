"""``trainsmart monitor``: the drift monitor as its own process (wired in ``apps/monitor.py``),
its kept reports, and the Kubernetes Job a retrain job runs as."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click
import yaml

from apps.cli.context import AppContext
from apps.monitor import MonitorProcess
from monitoring.records.reports import ReportStore
from monitoring.runners.kubernetes.render import example_job, render_job

logger = logging.getLogger("trainsmart.monitor")


def print_reports(app: AppContext) -> None:
    """The kept Evidently reports of ``model_name``, newest first, and the URL of the latest."""
    scope = app.settings.monitoring_scope()
    store = ReportStore(
        scope.paths.monitoring / "reports", scope.model_name, scope.monitoring.reports_keep
    )
    files = store.all()
    if not files:
        click.echo(
            f"no drift reports for {scope.model_name} yet in {store.folder}: one is written "
            "when a window drifts (monitoring.report_every_window writes one per window)"
        )
        return
    for path in files:
        click.echo(str(path))
    host, port = scope.monitoring.host, scope.monitoring.port
    click.echo(f"latest, while the monitor runs: http://{host}:{port}/report")


def print_rendered_job(app: AppContext, job_id: int | None, namespace: str | None) -> None:
    """The Kubernetes Job of retrain job ``job_id`` (or of an example job) as YAML; the
    database URL appears only as a reference to its Secret."""
    scope = app.settings.monitoring_scope()
    if job_id is not None:
        job = app.jobs.get(job_id)
    else:
        job = example_job(scope, "example: trainsmart monitor render-job")
    chosen = namespace or scope.monitoring.kubernetes.namespace or "default"
    click.echo(yaml.safe_dump(render_job(scope, job, chosen), sort_keys=False), nl=False)


def run_monitor(app: AppContext, *, once: bool) -> None:
    """``trainsmart monitor [--once]``: one check, or check until SIGTERM or SIGINT."""
    process = MonitorProcess.build(app.settings, app.db, app.registry)
    model = process.scope.model_name
    if once:  # one check, and only if no running monitor leads (it would act twice)
        windows = process.check_once()
        if windows is None:
            click.echo(f"a running monitor leads {model}; nothing checked")
            return
        for window in windows:
            click.echo(str(window))
        return
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping after the current check", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    process.run(stop, announce=click.echo)
