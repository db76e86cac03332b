"""``trainsmart``: train, serve, monitor, retrain, models, jobs, demo.

Every command takes ``--config FILE`` (or ``$TRAINSMART_CONFIG``) and honours
``TRAINSMART_*`` environment overrides and ``$TRAINSMART_SECRETS_DIR``. Errors print one
line, ``error: ...``, saying what to do: settings that cannot be read or validated (an
unknown key, a bad value) exit 2, like wrong usage; other errors exit 1. The commands
defined here read and check the whole settings before they run (before any heavy import,
before ``serve`` starts BentoML), so a typo is reported the same way by every one.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from apps.cli.context import AppContext, TrainsmartGroup
from apps.cli.crossval import run_cross_validation, run_ensemble
from apps.cli.demo import demo
from apps.cli.gpu import gpu
from apps.cli.models import jobs, models
from apps.cli.retrain import run_retrain_command
from apps.cli.transfer import export, import_, remote
from apps.cli.tune import tune, tuned_settings
from apps.settings import settings_schema
from trainsmart.errors import redact
from trainsmart.settings import child_environment


@click.group(cls=TrainsmartGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    "--ensemble",
    is_flag=True,
    help="With --cv K: register the K fold models as one ONNX model that averages their "
    "probabilities (values for regression) instead of training a final single model.",
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
    ensemble: bool,
    tuned: str | None,
    compress: bool | None,
) -> None:
    """Train on the configured dataset, export to ONNX, check parity and register a version."""
    from training.pipeline import train_and_register  # lazy: imports torch

    settings = app.settings.training_scope()
    if compress is not None:
        compression = settings.training.compression.model_copy(update={"enabled": compress})
        training = settings.training.model_copy(update={"compression": compression})
        settings = settings.model_copy(update={"training": training})
    tuning: dict[str, Any] | None = None
    if tuned is not None:
        settings, tuning = tuned_settings(settings, tuned)
    extra_metrics: dict[str, dict[str, float]] = {}
    if ensemble and folds is None:
        raise click.UsageError("--ensemble needs --cv K: the ensemble is made of the K fold models")
    if ensemble and folds is not None:
        outcome = run_ensemble(settings, folds, app.registry, progress=not quiet, tuning=tuning)
    else:
        if folds is not None:
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
    # the whole file, every section, was checked before this runs (TrainsmartCommand): the
    # service process reads only its own section, and its errors would land in BentoML's log
    settings = app.settings
    from apps.launch import service_command  # lazy: httpx, for the commands that start servers

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
    from apps.bento import build_bento  # lazy: only this command builds Bentos

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
    from apps.cli.monitor import run_monitor  # lazy: imports the monitoring stage

    run_monitor(ctx.obj, once=once)


@monitor.command("report")
@click.pass_obj
def monitor_report(app: AppContext) -> None:
    """Print where the Evidently HTML reports of drifted windows are (newest first)."""
    from apps.cli.monitor import print_reports  # lazy: imports the monitoring stage

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
    from apps.cli.monitor import print_rendered_job  # lazy: imports the monitoring stage

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
    if job_id is not None and reason is not None:
        raise click.UsageError("--reason is for a manual retrain; a --job-id job has its own")
    run_retrain_command(app, job_id, reason)


@cli.command("settings", loads_settings=False)
@click.option(
    "--schema",
    is_flag=True,
    help="Print the JSON Schema of trainsmart.yaml instead (for editors: "
    "`trainsmart settings --schema > trainsmart.schema.json`).",
)
@click.pass_obj
def show_settings(app: AppContext, schema: bool) -> None:
    """Print the effective settings (defaults, file, secrets directory and TRAINSMART_*
    overrides) as YAML, secrets masked; or, with --schema, the settings file's JSON Schema."""
    if schema:
        click.echo(json.dumps(settings_schema(), indent=2))
        return
    settings = app.settings
    source = settings.config_file
    click.echo(f"# settings file: {source or 'none (defaults and environment only)'}")
    click.echo(yaml.safe_dump(_redacted(settings.model_dump(mode="json")), sort_keys=False))


def _redacted(value: Any) -> Any:
    """``value`` with the credentials in every string hidden (a ``redis_url`` or
    ``mlflow_uri`` with ``user:password@``): SecretStr fields are masked by pydantic,
    plain URL fields are not."""
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return redact(value) if isinstance(value, str) else value


for _command in (export, import_, remote):
    models.add_command(_command)
for _command in (models, jobs, demo, tune, gpu):
    cli.add_command(_command)

if __name__ == "__main__":
    cli()
