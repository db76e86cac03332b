"""``trainsmart``: train, serve, monitor, retrain, models, jobs, demo.

Every command takes ``--config FILE`` (or ``$TRAINSMART_CONFIG``) and honours
``TRAINSMART_*`` environment overrides. Errors print one line saying what to
do and exit 1; wrong usage exits 2.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from trainsmart.cli.context import AppContext
from trainsmart.errors import TrainsmartError
from trainsmart.settings import child_environment


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrainsmartError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Settings file (YAML). Default: $TRAINSMART_CONFIG, else ./trainsmart.yaml if present.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
@click.version_option(package_name="trainsmart")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """Train, register, serve, log, detect drift, retrain and promote models."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for ours in ("trainsmart", "training", "serving", "monitoring"):
        logging.getLogger(ours).setLevel(logging.DEBUG if verbose else logging.INFO)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")  # no usage reports from here or children
    ctx.obj = AppContext(config=config)


@cli.command()
@click.option(
    "--promote/--no-promote",
    default=None,
    help="Promote the new version (default: only if nothing is in production).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--cv",
    "folds",
    type=click.IntRange(min=2),
    default=None,
    metavar="K",
    help="First cross-validate with K stratified folds; the mean and std per metric go "
    "into the bundle's metrics.json under 'cv'.",
)
@click.option(
    "--tuned",
    metavar="STUDY",
    default=None,
    help="Train with the best values of a `trainsmart tune` study; the study goes into the "
    "bundle's lineage.",
)
@click.option(
    "--compress/--no-compress",
    default=None,
    help="Build and measure the compressed variants (int8, pruned, fp16) and serve the "
    "fastest within training.compression.max_metric_drop (default: "
    "training.compression.enabled).",
)
@click.pass_obj
def train(
    app: AppContext,
    promote: bool | None,
    quiet: bool,
    folds: int | None,
    tuned: str | None,
    compress: bool | None,
) -> None:
    """Train on the configured dataset, export to ONNX, check parity and register a version."""
    from training.pipeline import train_and_register

    settings = app.settings
    if compress is not None:
        compression = settings.training.compression.model_copy(update={"enabled": compress})
        training = settings.training.model_copy(update={"compression": compression})
        settings = settings.model_copy(update={"training": training})
    tuning: dict[str, Any] | None = None
    if tuned is not None:
        from trainsmart.cli.tune import tuned_settings

        settings, tuning = tuned_settings(settings, tuned)
    extra_metrics: dict[str, dict[str, float]] = {}
    if folds is not None:
        from trainsmart.cli.crossval import run_cross_validation

        extra_metrics["cv"] = run_cross_validation(settings, folds, progress=not quiet)
    outcome = train_and_register(
        settings,
        app.registry,
        progress=not quiet,
        extra_metrics=extra_metrics or None,
        tuning=tuning,
    )
    bundle = outcome.bundle
    click.echo(f"registered {bundle.name}:{bundle.version} at {bundle.path}")
    metrics = bundle.metrics()
    for variant, values in metrics.items():
        if isinstance(values, dict) and variant != "variants":
            shown = ", ".join(f"{k}={v:.4f}" for k, v in values.items() if isinstance(v, float))
            click.echo(f"  {variant:8s} {shown}")
    variants: dict[str, Any] = dict(metrics.get("variants", {}))
    selection: dict[str, Any] = dict(variants.get("selection") or {})
    if selection:
        click.echo(f"  serving {selection.get('chosen')}: {selection.get('reason')}")
        click.echo("  every variant measured: see the report (trainsmart models show)")
    current = app.registry.production(settings.model_name)
    if promote or (promote is None and current is None):
        app.registry.promote(
            settings.model_name, bundle.version, reason="trainsmart train", actor=None
        )
        click.echo(f"promoted {bundle.name}:{bundle.version} to production")


@cli.command()
@click.option("--host", default=None, help="Interface to bind (default: serving.host).")
@click.option("--port", type=int, default=None, help="Port to bind (default: serving.port).")
@click.pass_obj
def serve(app: AppContext, host: str | None, port: int | None) -> None:
    """Start the BentoML prediction service on the production model."""
    settings = app.settings
    from trainsmart.launch import service_command

    # BentoML reads the worker count when it imports the service, before settings load
    env = child_environment(
        settings, {"TRAINSMART_SERVING__WORKERS": str(settings.serving.workers)}
    )
    command = service_command(host or settings.serving.host, port or settings.serving.port)
    sys.exit(subprocess.call(command, env=env))


@cli.command()
@click.option("--version", "version", default=None, help="Version to carry (default: production).")
@click.pass_obj
def bento(app: AppContext, version: str | None) -> None:
    """Build a Bento of the service carrying the production model (`bentoml build`)."""
    from trainsmart.bento import build_bento

    tag = build_bento(app.settings, app.registry, version)
    home = app.settings.paths.model_store.parent
    click.echo(f"built {tag}")
    click.echo(f"serve it:        BENTOML_HOME={home} bentoml serve {tag}")
    click.echo(f"containerize it: BENTOML_HOME={home} bentoml containerize {tag}")


@cli.group(invoke_without_command=True)
@click.option("--once", is_flag=True, help="Run one check and exit.")
@click.pass_context
def monitor(ctx: click.Context, once: bool) -> None:
    """Watch logged inputs for drift, export metrics, trigger retrain jobs."""
    if ctx.invoked_subcommand is not None:
        return
    from trainsmart.cli.monitor import run_monitor

    run_monitor(ctx.obj, once=once)


@monitor.command("report")
@click.pass_obj
def monitor_report(app: AppContext) -> None:
    """Print where the Evidently HTML reports of drifted windows are (newest first)."""
    from trainsmart.cli.monitor import print_reports

    print_reports(app)


@monitor.command("render-job")
@click.option(
    "--job-id",
    type=int,
    default=None,
    help="Render the Job of this retrain job (default: an example job).",
)
@click.option("--namespace", default=None, help="Namespace (default: monitoring.kubernetes's).")
@click.pass_obj
def monitor_render_job(app: AppContext, job_id: int | None, namespace: str | None) -> None:
    """Print the Kubernetes Job a retrain job runs as (monitoring.job_runner: kubernetes)."""
    from trainsmart.cli.monitor import print_rendered_job

    print_rendered_job(app, job_id, namespace)


@cli.command()
@click.option("--job-id", type=int, default=None, help="Jobs-table row to report to.")
@click.option(
    "--reason",
    default=None,
    help="Why (kept on the job and in the audit log; default: 'manual: ... by USER').",
)
@click.pass_obj
def retrain(app: AppContext, job_id: int | None, reason: str | None) -> None:
    """Train a challenger on training data plus labelled traffic; promote it only if it wins
    on the recent holdout and keeps its score on the original test split."""
    from trainsmart.cli.retrain import run_retrain_command

    if job_id is not None and reason is not None:
        raise click.UsageError("--reason is for a manual retrain; a --job-id job has its own")
    run_retrain_command(app, job_id, reason)


@cli.command("settings")
@click.pass_obj
def show_settings(app: AppContext) -> None:
    """Print the effective settings (defaults, file and TRAINSMART_* overrides) as YAML."""
    import yaml

    settings = app.settings
    source = type(settings).yaml_file
    click.echo(f"# settings file: {source or 'none (defaults and environment only)'}")
    click.echo(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False))


def _register_subcommands() -> None:
    from trainsmart.cli.demo import demo
    from trainsmart.cli.models import jobs, models
    from trainsmart.cli.transfer import export, import_, remote
    from trainsmart.cli.tune import tune

    for command in (export, import_, remote):
        models.add_command(command)

    cli.add_command(models)
    cli.add_command(jobs)
    cli.add_command(demo)
    cli.add_command(tune)


_register_subcommands()

if __name__ == "__main__":
    cli()
