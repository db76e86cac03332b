# over 300 lines: one study from open to summary, with its per-trial console lines
"""Hyperparameter search with Optuna, stored in SQLite so that a study resumes.

Example::

    scope = settings.training_scope()
    result = tune(scope, n_trials=20)           # adds 20 trials to the study
    result.best_params                          # {"learning_rate": 0.0031, ...}
    tuned = apply_best(scope, result)           # the scope with the best values applied
    train_and_register(tuned, registry, tuning=result.lineage())

The study named ``study`` (default: the model name) lives in
``<data_dir>/tuning/<study>.db``; running :func:`tune` again with the same name loads
it and adds trials. Each trial trains through :func:`training.train.train_model`
(same split and preprocessing as ``trainsmart train``) with the trial's values put
over ``settings.training``, reports its validation metric after every epoch and is
pruned when the pruner says so. Optuna is imported only inside these functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console

from training.data import Dataset, load_dataset
from training.frameworks import EpochLog
from training.settings import TrainingScope
from training.tracking import tuning_run
from training.train import train_model
from training.tuning.space import (
    apply_params,
    check_space,
    grid_left,
    make_pruner,
    make_sampler,
    suggest,
)
from trainsmart.errors import ConfigError, TrainingError
from trainsmart.names import check_name

if TYPE_CHECKING:
    import optuna

TUNING_DIR = "tuning"


@dataclass
class TuneResult:
    """The best trial of a study and how many trials it holds."""

    study_name: str
    best_params: dict[str, Any]
    """Search-space values of the best trial (as named in training.tuning.search_space)."""
    best_value: float
    metric: str
    n_trials: int
    """Trials stored in the study, every run together."""
    n_pruned: int
    n_complete: int
    storage_path: Path
    n_failed: int = 0
    best_trial: int = 0
    sampler: str = ""

    def lineage(self) -> dict[str, Any]:
        """What goes into ``Lineage.tuning`` of a version trained with these values."""
        return {
            "study": self.study_name,
            "sampler": self.sampler,
            "metric": self.metric,
            "best_value": self.best_value,
            "best_trial": self.best_trial,
            "best_params": self.best_params,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "n_failed": self.n_failed,
        }


def study_path(settings: TrainingScope, study_name: str) -> Path:
    """The SQLite file of a study: ``<data_dir>/tuning/<study>.db``."""
    return settings.data_dir / TUNING_DIR / f"{study_name}.db"


def apply_best(settings: TrainingScope, result: TuneResult) -> TrainingScope:
    """``settings`` with the best trial's values applied to ``settings.training``."""
    return apply_params(settings, result.best_params)


def _result(study: optuna.Study, path: Path) -> TuneResult:
    from optuna.trial import TrialState  # lazy: optuna, ~0.15 s to import

    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    if counts[TrialState.COMPLETE] == 0:
        raise TrainingError(
            f"no trial of study '{study.study_name}' has completed "
            f"({counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL]} failed); "
            "widen training.tuning.search_space, lower the learning rates or add trials"
        )
    best = study.best_trial
    return TuneResult(
        study_name=study.study_name,
        best_params=dict(best.user_attrs.get("params", best.params)),
        best_value=float(best.value if best.value is not None else math.nan),
        metric=str(study.user_attrs.get("metric", "")),
        n_trials=len(trials),
        n_pruned=counts[TrialState.PRUNED],
        n_complete=counts[TrialState.COMPLETE],
        storage_path=path,
        n_failed=counts[TrialState.FAIL],
        best_trial=best.number,
        sampler=str(study.user_attrs.get("sampler", "")),
    )


def load_result(settings: TrainingScope, study_name: str | None = None) -> TuneResult:
    """The best trial of a stored study, without running trials."""
    import optuna  # lazy: optuna, ~0.15 s to import

    name = _study_name(settings, study_name)
    path = study_path(settings, name)
    if not path.is_file():
        raise ConfigError(
            f"there is no tuning study '{name}' ({path} does not exist); "
            f"run 'trainsmart tune --study {name}' first"
        )
    try:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{path.as_posix()}")
    except KeyError as exc:
        raise ConfigError(f"{path} holds no study named '{name}'") from exc
    return _result(study, path)


def _study_name(settings: TrainingScope, study_name: str | None) -> str:
    return check_name(study_name or settings.model_name, "study")


def tune(
    settings: TrainingScope,
    *,
    study_name: str | None = None,
    n_trials: int | None = None,
    dataset: Dataset | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> TuneResult:
    """Add ``n_trials`` (default: training.tuning.n_trials) trials to the stored study.

    ``dataset`` replaces the configured data (tests pass a subsample). A trial whose
    training diverges counts as failed and the search goes on; an interrupt (Ctrl-C)
    marks the running trial failed, leaves the finished ones stored and propagates.
    """
    import optuna  # lazy: optuna, ~0.15 s to import

    check_space(settings.training)
    name = _study_name(settings, study_name)
    path = study_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial instead
    try:
        study, budget, stored = _open_study(settings, name, path, n_trials)
        out = _Lines(progress, console, settings.training.tuning.metric, budget)
        out.start(name, path, stored)
        if budget > 0:
            with tuning_run(settings, name) as run:  # training.tracking: a nested run per trial
                study.optimize(
                    _objective(settings, dataset),
                    n_trials=budget,
                    timeout=settings.training.tuning.timeout_s,
                    catch=(TrainingError,),
                    callbacks=[out.trial, run.trial],
                )
    finally:
        optuna.logging.set_verbosity(verbosity)
    return _result(study, path)


def _open_study(
    settings: TrainingScope, name: str, path: Path, n_trials: int | None
) -> tuple[optuna.Study, int, int]:
    """(the created or resumed study, trials to add, trials already stored)."""
    import optuna  # lazy: optuna, ~0.15 s to import

    tuning = settings.training.tuning
    storage = optuna.storages.RDBStorage(f"sqlite:///{path.as_posix()}")
    try:
        stored = len(storage.get_all_trials(storage.get_study_id_from_name(name)))
    except KeyError:
        stored = 0
    direction: Literal["minimize", "maximize"] = (
        "minimize" if tuning.metric == "val_loss" else "maximize"
    )
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        # a resumed study gets a shifted seed so that it does not redraw its first trials
        sampler=make_sampler(tuning, tuning.seed + stored),
        pruner=make_pruner(settings.training),
        direction=direction,
        load_if_exists=True,
    )
    metric = study.user_attrs.get("metric")
    if metric is None:
        study.set_user_attr("metric", tuning.metric)
        study.set_user_attr("sampler", tuning.sampler)
    elif metric != tuning.metric:
        raise ConfigError(
            f"study '{name}' optimises {metric}, not training.tuning.metric {tuning.metric}; "
            "use another --study name or set the metric back"
        )
    budget = n_trials or tuning.n_trials
    if tuning.sampler == "grid":
        budget = min(budget, grid_left(study, tuning.search_space))
    return study, budget, stored


def _objective(settings: TrainingScope, dataset: Dataset | None) -> Callable[[optuna.Trial], float]:
    """Train with the trial's values; report the metric per epoch; prune when told."""
    import optuna  # lazy: optuna, ~0.15 s to import

    tuning = settings.training.tuning
    data = dataset if dataset is not None else load_dataset(settings.data)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, tuning.search_space)
        trial.set_user_attr("params", params)

        def report(entry: EpochLog) -> None:
            value = entry.val_loss if tuning.metric == "val_loss" else entry.val_score
            trial.report(value, entry.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {entry.epoch}: {tuning.metric} {value:.4f}")

        try:
            trained = train_model(
                apply_params(settings, params), dataset=data, progress=False, on_epoch=report
            )
        except TrainingError as exc:
            trial.set_user_attr("error", exc.message)
            raise
        fit = trained.fit
        trial.set_user_attr("best_epoch", fit.best_epoch)
        return fit.best_val_loss if tuning.metric == "val_loss" else fit.best_val_score

    return objective


class _Lines:
    """One line per finished trial on a rich console; silent when disabled."""

    def __init__(self, enabled: bool, console: Console | None, metric: str, budget: int) -> None:
        self.enabled = enabled
        self.metric = metric
        self.budget = budget
        self.done = 0
        if enabled and console is None:
            console = Console(stderr=True)
        self.console = console

    def start(self, name: str, path: Path, stored: int) -> None:
        if self.enabled and self.console is not None:
            resumed = f"resuming with {stored} trials stored" if stored else "new study"
            self.console.print(
                f"study [bold]{name}[/] ({resumed}, {path}): adding {self.budget} trials",
                highlight=False,
                soft_wrap=True,
            )

    def trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        from optuna.trial import TrialState  # lazy: optuna, ~0.15 s to import

        self.done += 1
        if not self.enabled or self.console is None:
            return
        shown = " ".join(f"{k}={_short(v)}" for k, v in trial.user_attrs.get("params", {}).items())
        if trial.state == TrialState.COMPLETE:
            what = f"[green]complete[/] {self.metric} {trial.value:.4f}"
        elif trial.state == TrialState.PRUNED:
            what = f"[yellow]pruned[/] at epoch {trial.last_step}"
        else:
            what = f"[red]failed[/] {trial.user_attrs.get('error', '')}"
        try:
            best = f"best {study.best_value:.4f} (#{study.best_trial.number})"
        except ValueError:  # nothing completed yet
            best = "best -"
        self.console.print(
            f"[{self.done}/{self.budget}] trial #{trial.number} {what}  {shown}  {best}",
            highlight=False,
            soft_wrap=True,
        )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
