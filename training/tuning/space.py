"""The search space: settings values <-> Optuna suggestions, samplers and pruners."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from training.settings import ParamSpec, TrainingScope, TrainingSettings, TuningSettings
from trainsmart.errors import ConfigError

if TYPE_CHECKING:
    import optuna


def training_with(training: TrainingSettings, params: Mapping[str, Any]) -> TrainingSettings:
    """``training`` with search-space values applied (``hidden_width`` w: [w, w // 2])."""
    values = dict(params)
    if "hidden_width" in values:
        width = int(values.pop("hidden_width"))
        values["hidden_sizes"] = [width, max(1, width // 2)]
    return type(training).model_validate({**training.model_dump(), **values})


def apply_params(settings: TrainingScope, params: Mapping[str, Any]) -> TrainingScope:
    """``settings`` with ``params`` put over ``settings.training``."""
    return settings.model_copy(update={"training": training_with(settings.training, params)})


def check_space(training: TrainingSettings) -> None:
    """Raise ConfigError if a bound or choice of the search space is not a valid setting."""
    for name, spec in training.tuning.search_space.items():
        values = spec.choices if spec.type == "categorical" else [spec.low, spec.high]
        for value in values:
            try:
                training_with(training, {name: value})
            except (ValidationError, TypeError, ValueError) as exc:
                reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else exc
                raise ConfigError(
                    f"training.tuning.search_space.{name}: {value!r} is not a valid value "
                    f"({reason}); narrow the range or fix the choices"
                ) from exc


def encode_value(value: Any) -> Any:
    """Optuna takes None, bool, int, float and str as choices; lists go in as JSON."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def suggest(trial: optuna.Trial, space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if spec.type == "categorical":
            lookup = {encode_value(c): c for c in spec.choices}
            params[name] = lookup[trial.suggest_categorical(name, list(lookup))]
            continue
        if spec.low is None or spec.high is None:  # ParamSpec's validator rules this out
            raise ConfigError(f"training.tuning.search_space.{name} needs low and high")
        if spec.type == "int":
            step = int(spec.step or 1)
            params[name] = trial.suggest_int(
                name, int(spec.low), int(spec.high), step=step, log=spec.log
            )
        else:
            step_f = None if spec.step is None else float(spec.step)
            params[name] = trial.suggest_float(
                name, float(spec.low), float(spec.high), step=step_f, log=spec.log
            )
    return params


def make_sampler(tuning: TuningSettings, seed: int) -> optuna.samplers.BaseSampler:
    import optuna  # lazy: optuna, ~0.15 s to import

    if tuning.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if tuning.sampler == "grid":
        grid = {n: [encode_value(c) for c in s.choices] for n, s in tuning.search_space.items()}
        return optuna.samplers.GridSampler(grid, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(training: TrainingSettings) -> optuna.pruners.BasePruner:
    import optuna  # lazy: optuna, ~0.15 s to import

    tuning = training.tuning
    if tuning.pruner == "median":
        # epochs are reported from 1; the median pruner skips steps below n_warmup_steps
        return optuna.pruners.MedianPruner(
            n_startup_trials=tuning.startup_trials, n_warmup_steps=tuning.warmup_epochs + 1
        )
    if tuning.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, tuning.warmup_epochs), max_resource=training.max_epochs
        )
    return optuna.pruners.NopPruner()


def grid_left(study: optuna.Study, space: Mapping[str, ParamSpec]) -> int:
    """Grid points of ``space`` that no finished trial of ``study`` has tried yet."""
    from optuna.trial import TrialState  # lazy: optuna, ~0.15 s to import

    size = math.prod(len(s.choices) for s in space.values())
    grid = [{encode_value(c) for c in s.choices} for s in space.values()]
    tried = {
        tuple(t.params.get(n) for n in space)
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    }
    done = [p for p in tried if all(v in g for v, g in zip(p, grid, strict=True))]
    return max(0, size - len(done))
