"""``trainsmart tune``: add trials to an Optuna study; optionally register the best."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from apps.cli.context import AppContext

if TYPE_CHECKING:
    from training.settings import TrainingScope
    from training.tuning import TuneResult


def tuned_settings(scope: TrainingScope, study: str | None) -> tuple[TrainingScope, dict[str, Any]]:
    """``scope`` with the best values of ``study`` applied, and the lineage entry."""
    from training.tuning import apply_best, load_result  # lazy: imports torch

    result = load_result(scope, study)
    return apply_best(scope, result), result.lineage()


def result_table(result: TuneResult) -> Table:
    """The best trial's values, one row per searched parameter."""
    table = Table(title=f"study {result.study_name}: best trial #{result.best_trial}")
    table.add_column("parameter")
    table.add_column("best value", justify="right")
    for name, value in result.best_params.items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    return table


def summary(result: TuneResult) -> str:
    """One line: the best value and the study's trial counts."""
    return (
        f"best {result.metric} {result.best_value:.4f}; {result.n_trials} trials "
        f"({result.n_complete} complete, {result.n_pruned} pruned, {result.n_failed} failed) "
        f"in {result.storage_path}"
    )


@click.command()
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=None,
    help="Trials to add (default: training.tuning.n_trials).",
)
@click.option(
    "--study",
    default=None,
    help="Study name (default: the model name); an existing study resumes and adds trials.",
)
@click.option(
    "--register",
    is_flag=True,
    help="Then train with the best values and register the version (promoted only if "
    "nothing is in production); the study goes into its lineage.",
)
@click.option("--quiet", is_flag=True, help="No line per trial.")
@click.pass_obj
def tune(
    app: AppContext, trials: int | None, study: str | None, register: bool, quiet: bool
) -> None:
    """Search hyperparameters (training.tuning) with Optuna; the study is stored in SQLite."""
    from training.pipeline import train_and_register  # lazy: imports torch
    from training.tuning import apply_best, study_path  # lazy: imports torch
    from training.tuning import tune as run_tune  # lazy: imports torch

    scope = app.settings.training_scope()
    try:
        result = run_tune(
            scope, study_name=study, n_trials=trials, progress=not quiet, console=app.console
        )
    except KeyboardInterrupt:
        name = study or scope.model_name
        click.echo(
            f"interrupted; finished trials are stored in {study_path(scope, name)}: "
            "run the same command again to resume",
            err=True,
        )
        raise SystemExit(130) from None
    app.console.print(result_table(result))
    click.echo(summary(result))
    if not register:
        click.echo(f"train with these values: trainsmart train --tuned {result.study_name}")
        return
    outcome = train_and_register(
        apply_best(scope, result), app.registry, progress=not quiet, tuning=result.lineage()
    )
    bundle = outcome.bundle
    click.echo(f"registered {bundle.name}:{bundle.version} at {bundle.path}")
    if app.registry.production(scope.model_name) is None:
        app.registry.promote(
            scope.model_name, bundle.version, reason="trainsmart tune --register", actor=None
        )
        click.echo(f"promoted {bundle.name}:{bundle.version} to production")
