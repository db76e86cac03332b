"""A tracked `trainsmart tune`: one run for the study's session, one nested run per trial.

Example (``training.tuning.study.tune``)::

    with tuning_run(settings, "fair") as run:
        study.optimize(objective, n_trials=20, callbacks=[run.trial])

Each trial's run is written when Optuna reports the trial finished (an Optuna callback;
the objective is untouched): its values as parameters, the tuning metric of every epoch
(what the pruner saw), its best value, its state (complete, pruned, failed) and its
start and end times. The session's run gets ``best_value`` after every trial.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from training.settings import TrainingScope
from training.tracking.base import RunStatus, never_raises
from training.tracking.factory import base_tags
from training.tracking.runs import TrainingRun, start

if TYPE_CHECKING:
    import optuna

STATUS: dict[str, RunStatus] = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
"""Optuna trial state -> MLflow run status."""


class TuningRun(TrainingRun):
    """The run of one tuning session; its trials are nested runs."""

    def __init__(self, run: TrainingRun, study: str) -> None:
        super().__init__(run.tracker, run.settings)
        self.study = study

    @never_raises
    def trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Optuna callback: the finished ``trial`` as a nested run."""
        if not self.active:
            return
        metric = self.settings.training.tuning.metric
        start_time = trial.datetime_start.timestamp() if trial.datetime_start else None
        end_time = trial.datetime_complete.timestamp() if trial.datetime_complete else None
        tags = {
            "trainsmart.kind": "trial",
            "trainsmart.study": self.study,
            "trainsmart.trial": str(trial.number),
            "optuna.state": trial.state.name,
        }
        if "error" in trial.user_attrs:
            tags["trainsmart.error"] = str(trial.user_attrs["error"])
        child = self.tracker.child(f"trial {trial.number}", tags, start_time=start_time)
        params = trial.user_attrs.get("params", trial.params)
        child.log_params({k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()})
        for epoch, value in sorted(trial.intermediate_values.items()):
            if math.isfinite(value):
                child.log_metrics({metric: value}, step=epoch)
        final = {"best_epoch": trial.user_attrs.get("best_epoch")}
        if trial.value is not None:
            final[f"best_{metric}"] = trial.value
        child.log_metrics({k: float(v) for k, v in final.items() if v is not None})
        child.end(STATUS.get(trial.state.name, "FAILED"), end_time=end_time)
        try:
            best = study.best_trial
        except ValueError:  # nothing completed yet
            return
        if best.value is not None:
            self.tracker.log_metrics({"best_value": best.value}, step=trial.number)
        self.tracker.set_tags({"trainsmart.best_trial": str(best.number)})


def tuning_run(settings: TrainingScope, study: str) -> TuningRun:
    """Open the run of one `trainsmart tune` session on study ``study``."""
    tags = {**base_tags(settings, "tune"), "trainsmart.study": study}
    return TuningRun(start(settings, f"tune {study}", tags), study)
