"""``trainsmart train --cv K``: k-fold cross-validation before the final training run;
with ``--ensemble`` the K fold models are registered as one averaging model instead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from training.cv import CVResult
    from training.pipeline import TrainOutcome
    from training.settings import TrainingScope
    from trainsmart.registry.store import Registry


def run_cross_validation(
    scope: TrainingScope, k: int, *, progress: bool, console: Console | None = None
) -> dict[str, float]:
    """Cross-validate the configured recipe, print mean ± std per metric, return the
    flattened summary for the bundle's metrics.json ("cv" section)."""
    from training.cv import cross_validate  # lazy: imports torch

    console = console if console is not None else Console()
    console.print(f"cross-validation: {k} stratified folds of the training and validation rows")
    result = cross_validate(scope, k, progress=progress)
    console.print(cv_table(result))
    return result.to_metrics()


def cv_table(result: CVResult) -> Table:
    """A rich table: one row per metric with its mean ± std and the per-fold values."""
    table = Table(title=f"{result.k}-fold cross-validation")
    table.add_column("metric")
    table.add_column("mean ± std", justify="right")
    table.add_column("folds", justify="right")
    for name, stats in result.summary().items():
        per_fold = " ".join(f"{f.metrics[name]:.3f}" for f in result.folds if name in f.metrics)
        table.add_row(name, f"{stats['mean']:.4f} ± {stats['std']:.4f}", per_fold)
    return table


def run_ensemble(
    scope: TrainingScope,
    k: int,
    registry: Registry,
    *,
    progress: bool,
    tuning: dict[str, Any] | None = None,
    console: Console | None = None,
) -> TrainOutcome:
    """``--cv K --ensemble``: cross-validate, print the table, register the K fold models
    as one averaging model (training.ensemble) instead of a final single model."""
    from training.ensemble import build_ensemble, register_ensemble  # lazy: imports torch

    console = console if console is not None else Console()
    console.print(
        f"cross-validation: {k} stratified folds of the training and validation rows; "
        "the fold models become one ensemble"
    )
    built = build_ensemble(scope, k, progress=progress)
    console.print(cv_table(built[0]))
    return register_ensemble(scope, registry, k, result=built, tuning=tuning)
