"""``training.tuning``: the hyperparameter search and its search space."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from training.settings.fields import PosInt
from trainsmart.settings import Section

TUNABLE_EXTRA = ("hidden_width",)
"""Search-space names that are not TrainingSettings fields (see :class:`TuningSettings`).
That every other name is a TrainingSettings field is checked by TrainingSettings, which
knows its fields."""


class ParamSpec(Section):
    """One searched hyperparameter: a float or int range, or a list of choices."""

    type: Literal["float", "int", "categorical"]
    """'float': a real in [low, high]; 'int': an integer in [low, high]; 'categorical': one
    of choices."""
    low: int | float | None = None
    """Lower bound, inclusive (float and int)."""
    high: int | float | None = None
    """Upper bound, inclusive (float and int)."""
    log: bool = False
    """Sample on a log scale (float and int; needs low > 0, no step)."""
    step: int | float | None = None
    """Spacing of the values (float and int); None: any float, every integer."""
    choices: list[Any] = []
    """The values to pick from (categorical): numbers, strings, booleans, or lists of
    numbers (for hidden_sizes)."""

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None:
                raise ValueError("a categorical parameter takes 'choices', not 'low'/'high'")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs 'low' and 'high'")
        if self.choices:
            raise ValueError(f"a {self.type} parameter takes 'low'/'high', not 'choices'")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log: true needs low > 0 and no step")
        if self.type == "int" and not all(
            float(v).is_integer() for v in (self.low, self.high, self.step or 1)
        ):
            raise ValueError("an int parameter needs integer low, high and step")
        return self

    def describe(self) -> str:
        """A short text of the space: 'float 0.0001..0.01 log', 'categorical [64, 128]'."""
        if self.type == "categorical":
            return f"categorical {self.choices}"
        return f"{self.type} {self.low}..{self.high}{' log' if self.log else ''}"


def _default_search_space() -> dict[str, ParamSpec]:
    return {
        "learning_rate": ParamSpec(type="float", low=1e-4, high=1e-2, log=True),
        "hidden_width": ParamSpec(type="int", low=16, high=128),
        "dropout": ParamSpec(type="float", low=0.0, high=0.5),
        "batch_size": ParamSpec(type="categorical", choices=[64, 128, 256]),
    }


class TuningSettings(Section):
    """Hyperparameter search with Optuna (`trainsmart tune`), as ``training.tuning``.

    Each trial trains with the trial's values put over the other training settings, on
    the same split and preprocessing as `trainsmart train`, and is scored on the
    validation split. The study lives in ``<data_dir>/tuning/<study>.db`` (SQLite): running
    the same study again resumes it and adds trials.

    Search-space names are TrainingSettings fields (learning_rate, dropout, batch_size,
    weight_decay, hidden_sizes, ...) plus ``hidden_width``, which sets
    ``hidden_sizes = [w, w // 2]``. Categorical ``hidden_sizes`` takes lists as choices.

    Example (YAML)::

        training:
          tuning:
            n_trials: 30
            search_space:
              learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
              hidden_width: {type: int, low: 16, high: 128}
              batch_size: {type: categorical, choices: [64, 128, 256]}
    """

    sampler: Literal["tpe", "random", "grid"] = "tpe"
    """'tpe': Tree-structured Parzen Estimator; 'random'; 'grid': every combination of the
    choices once (every parameter must be categorical)."""
    pruner: Literal["median", "hyperband", "none"] = "median"
    """Stop weak trials early: 'median' prunes a trial whose epoch value is worse than the
    median of earlier trials at that epoch; 'hyperband'; 'none' trains every trial fully."""
    n_trials: PosInt = 30
    """Trials added by one `trainsmart tune` run (--trials overrides)."""
    timeout_s: Annotated[float, Field(gt=0.0)] | None = None
    """Stop starting new trials after this many seconds (None: no limit)."""
    seed: int = 42
    """Seed of the sampler; a resumed study offsets it by the trials already stored."""
    metric: Literal["val_loss", "val_score", "val_accuracy"] = "val_loss"
    """What a trial is scored on: the best validation loss (minimised) or the validation
    score at the restored best epoch (maximised): accuracy for classification, R2 for
    regression ('val_accuracy' is the same as 'val_score')."""
    startup_trials: Annotated[int, Field(ge=0)] = 5
    """Trials that finish before the median pruner starts pruning."""
    warmup_epochs: Annotated[int, Field(ge=0)] = 2
    """Epochs of each trial that are never pruned (median: n_warmup_steps; hyperband:
    min_resource, at least 1)."""
    search_space: dict[str, ParamSpec] = Field(default_factory=_default_search_space)
    """Parameter name -> ParamSpec; the default searches learning_rate, hidden_width,
    dropout and batch_size."""

    @model_validator(mode="after")
    def _check(self) -> TuningSettings:
        if not self.search_space:
            raise ValueError("training.tuning.search_space is empty; name at least one parameter")
        if {"hidden_width", "hidden_sizes"} <= set(self.search_space):
            raise ValueError(
                "training.tuning.search_space has both hidden_width and hidden_sizes; "
                "keep one (hidden_width w sets hidden_sizes to [w, w // 2])"
            )
        if self.sampler == "grid":
            ranges = [
                f"{name} ({spec.describe()})"
                for name, spec in self.search_space.items()
                if spec.type != "categorical"
            ]
            if ranges:
                raise ValueError(
                    "training.tuning.sampler 'grid' tries every combination of a finite list "
                    f"of values, but {', '.join(ranges)} "
                    f"{'is a range' if len(ranges) == 1 else 'are ranges'}; give each "
                    "parameter as {type: categorical, choices: [...]} or use sampler "
                    "'tpe' or 'random'"
                )
        return self
