"""``trainsmart models list|show|promote|rollback|candidate|audit`` and ``trainsmart jobs``."""

from __future__ import annotations

import datetime as dt
import json

import click
from rich.console import Console
from rich.table import Table

from apps.cli.context import AppContext
from apps.cli.importance import importance_table
from trainsmart.registry import Candidate
from trainsmart.state import Job


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.group()
def models() -> None:
    """List, inspect, promote and roll back registered versions; set the candidate; export
    and import bundles (object storage, a shared file system)."""


@models.command("list")
@click.argument("name", required=False)
@click.pass_obj
def list_(app: AppContext, name: str | None) -> None:
    """List versions of NAME (default: every model)."""
    registry = app.registry
    names = [name] if name else registry.names()
    table = Table(title="registered versions")
    for column in (
        "model",
        "version",
        "production",
        "candidate",
        "variant",
        "test metrics",
        "trigger",
        "parent",
    ):
        table.add_column(column)
    for model in names:
        production = registry.production(model)
        candidate = registry.candidate(model)
        for version in registry.versions(model):
            bundle = registry.get(model, version)
            lineage = bundle.lineage()
            served = bundle.metrics().get("serving", {})
            table.add_row(
                model,
                version,
                "*" if version == production else "",
                _candidate_mark(candidate, version),
                lineage.serving_variant,
                _headline(served),
                lineage.trigger,
                lineage.parent_version or "-",
            )
    Console().print(table)


def _candidate_mark(candidate: Candidate | None, version: str) -> str:
    if candidate is None or candidate.version != version:
        return ""
    return "shadow" if candidate.shadow else "*"


def _headline(served: dict[str, float]) -> str:
    """'accuracy=0.9926 f1=0.9925' or 'r2=0.5076 mae=41.84' (test split, serving variant)."""
    keys = ("r2", "mae") if "mse" in served else ("accuracy", "f1")
    return " ".join(f"{k}={served[k]:.4g}" for k in keys if k in served) or "-"


@models.command()
@click.argument("name")
@click.argument("version", required=False)
@click.pass_obj
def show(app: AppContext, name: str, version: str | None) -> None:
    """Show contract, metrics, lineage and audit of NAME VERSION (default: production)."""
    registry = app.registry
    version = version or registry.production(name)
    if version is None:
        raise click.ClickException(f"{name} has no production version; name a version")
    bundle = registry.get(name, version)
    bundle.verify()
    console = Console()
    console.print(f"[bold]{name}:{version}[/bold]  {bundle.path}")
    contract = bundle.contract()
    table = Table(title="input contract")
    for column in ("feature", "kind", "range / categories", "nullable"):
        table.add_column(column)
    for f in contract.features:
        span = f"{f.min} .. {f.max}" if f.kind == "numeric" else str(f.categories)
        table.add_row(f.name, f.kind, span, str(f.nullable))
    console.print(table)
    if contract.task == "regression":
        console.print("task: regression (each prediction is a value)")
        names: tuple[str, ...] = ("mse", "rmse", "mae", "r2", "rows")
    else:
        console.print(f"classes: {contract.classes}")
        names = ("accuracy", "precision", "recall", "f1", "roc_auc", "rows")
    if contract.image_shape:
        console.print(f"image shape (channels, height, width): {contract.image_shape}")
    metrics = bundle.metrics()
    scores = Table(title="test metrics per variant (serving = the variant in model.onnx)")
    scores.add_column("variant")
    for column in names:
        scores.add_column(column)
    for variant, values in metrics.items():
        if names[0] in values and variant != "validation":
            scores.add_row(
                variant,
                *(
                    f"{values[n]:.{0 if n == 'rows' else 4}f}" if n in values else "-"
                    for n in names
                ),
            )
    console.print(scores)
    for extra in ("validation", "latency_ms"):
        if extra in metrics:
            shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics[extra].items())
            console.print(f"{extra}: {shown}")
    console.print(importance_table(metrics.get("importance")))
    console.print("lineage:", json.dumps(bundle.lineage().model_dump(), indent=2))
    console.print(f"production history: {registry.history(name)}")
    report = bundle.report_path
    shown = str(report) if report.is_file() else "none (registered before reports existed)"
    console.print(f"report: {shown}", soft_wrap=True, markup=False, highlight=False)
    console.print(_jobs_table(app.jobs.list(name, limit=5), title=f"recent retrain jobs of {name}"))
    rollbacks = Table(title=f"rollbacks of {name}")
    for column in ("when (UTC)", "from", "to", "actor", "reason"):
        rollbacks.add_column(column)
    for e in registry.audit(name, limit=5, action="rollback"):
        rollbacks.add_row(
            _when(e.ts), e.from_version or "-", e.to_version or "-", e.actor, e.reason
        )
    console.print(rollbacks if rollbacks.row_count else f"rollbacks of {name}: none")


@models.command()
@click.argument("name")
@click.argument("version")
@click.option("--reason", default="manual promotion", help="Why (kept in the audit log).")
@click.pass_obj
def promote(app: AppContext, name: str, version: str, reason: str) -> None:
    """Make NAME VERSION the production version (atomic, audited)."""
    before = app.registry.production(name)
    app.registry.promote(name, version, reason=reason)
    click.echo(f"{name}: production {before or 'none'} -> {version}")


@models.command()
@click.argument("name")
@click.option("--reason", default="manual rollback", help="Why (kept in the audit log).")
@click.pass_obj
def rollback(app: AppContext, name: str, reason: str) -> None:
    """Put back the version that was in production before the current one."""
    before = app.registry.production(name)
    after = app.registry.rollback(name, reason=reason)
    click.echo(f"{name}: production {before} -> {after} (rolled back)")


@models.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option(
    "--shadow/--no-shadow",
    default=None,
    help="Mirror production requests to the candidate (default with VERSION: no). "
    "Without VERSION: switch shadow mode of the current candidate.",
)
@click.option("--clear", is_flag=True, help="Remove the candidate.")
@click.option("--reason", default="manual candidate", help="Why (kept in the audit log).")
@click.pass_obj
def candidate(
    app: AppContext,
    name: str,
    version: str | None,
    shadow: bool | None,
    clear: bool,
    reason: str,
) -> None:
    """Set, switch or clear the candidate of NAME, served beside production (audited).

    \b
    trainsmart models candidate fair v3 --shadow   v3 becomes the candidate, shadowed
    trainsmart models candidate fair --no-shadow   stop mirroring, keep the candidate
    trainsmart models candidate fair --clear       no candidate
    trainsmart models candidate fair               show the candidate

    Running services follow within serving.reload_interval_s. Requests reach the
    candidate when they pin its version (/v2/models/NAME/versions/V/infer, or
    "version" in /predict); in shadow mode every production request is also mirrored
    to it and its answers are stored in the shadow table, never returned.
    """
    registry = app.registry
    if clear and (version is not None or shadow is not None):
        raise click.UsageError("--clear takes no VERSION and no --shadow/--no-shadow")
    if clear:
        removed = registry.clear_candidate(name, reason=reason)
        click.echo(f"{name}: candidate {removed} cleared" if removed else f"{name}: no candidate")
        return
    if version is not None:
        chosen = registry.set_candidate(name, version, shadow=bool(shadow), reason=reason)
        click.echo(f"{name}: candidate {chosen.version} ({_shadow_word(chosen)})")
        return
    if shadow is not None:
        chosen = registry.set_shadow(name, shadow, reason=reason)
        click.echo(f"{name}: candidate {chosen.version} ({_shadow_word(chosen)})")
        return
    current = registry.candidate(name)
    if current is None:
        click.echo(f"{name}: no candidate (production {registry.production(name) or 'none'})")
        return
    since = _when(current.set_at)
    click.echo(f"{name}: candidate {current.version} ({_shadow_word(current)}), set {since} UTC")


def _shadow_word(candidate: Candidate) -> str:
    return "shadow on" if candidate.shadow else "shadow off"


@models.command()
@click.argument("name", required=False)
@click.pass_obj
def audit(app: AppContext, name: str | None) -> None:
    """Show the audit log: promotions, rollbacks, candidate and shadow changes."""
    table = Table(title="audit log")
    for column in ("when (UTC)", "model", "action", "from", "to", "actor", "reason"):
        table.add_column(column)
    for e in app.registry.audit(name):
        table.add_row(
            _when(e.ts),
            e.model,
            e.action,
            e.from_version or "-",
            e.to_version or "-",
            e.actor,
            e.reason,
        )
    Console().print(table)


@click.command()
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=50, help="Newest jobs shown.")
@click.pass_obj
def jobs(app: AppContext, name: str | None, limit: int) -> None:
    """List retrain jobs of NAME (default: every model): trigger, why, outcome, log."""
    Console().print(_jobs_table(app.jobs.list(name, limit=limit), title="retrain jobs"))


def _jobs_table(jobs: list[Job], title: str) -> Table:
    """Jobs, newest first: what triggered each (and who), why, how it ended."""
    table = Table(title=title)
    for column in (
        "id",
        "model",
        "status",
        "trigger",
        "by",
        "created (UTC)",
        "finished",
        "champion",
        "result",
        "reason",
        "outcome",
        "log",
    ):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            str(job.id),
            job.model,
            job.status.value,
            job.trigger.value,
            job.actor,
            _when(job.created_at),
            _when(job.finished_at),
            job.champion_version or "-",
            job.version or "-",
            job.reason,
            job.outcome or "-",
            job.log_path or "-",
        )
    return table
