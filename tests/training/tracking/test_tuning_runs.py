"""`trainsmart tune` against a real MLflow server: the session is one run, each Optuna
trial a nested run under it with the trial's values and its per-epoch metric."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient

from tests.mlflow_server import MlflowServer
from tests.training.tracking.conftest import tracked_settings
from training.data import Dataset
from training.tuning import study_path, tune

SPACE = {
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "hidden_width": {"type": "int", "low": 4, "high": 16},
}


def test_trials_are_nested_runs_under_the_tuning_run(
    mlflow_server: MlflowServer, tmp_path: Path, small_fair: Dataset
) -> None:
    tuning = {"n_trials": 2, "sampler": "random", "pruner": "none", "search_space": SPACE}
    settings = tracked_settings(
        tmp_path / "data",
        training={"tuning": tuning},
        mlflow_uri=mlflow_server.uri,
        experiment="tuning",
    )
    scope = settings.training_scope()
    result = tune(scope, study_name="tiny", dataset=small_fair, progress=False)
    assert result.n_complete == 2

    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("tuning")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("trainsmart.kind") == "tune"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.run_name == "tune tiny" and parent.info.status == "FINISHED"
    assert parent.data.tags["trainsmart.study"] == "tiny"
    assert parent.data.params["training.tuning.n_trials"] == "2"
    assert parent.data.metrics["best_value"] == result.best_value

    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == len(runs) - 1 == 2
    path = study_path(scope, "tiny").as_posix()
    trials = optuna.load_study(study_name="tiny", storage=f"sqlite:///{path}").trials
    by_number = {int(r.data.tags["trainsmart.trial"]): r for r in children}
    assert set(by_number) == {t.number for t in trials}
    for trial in trials:
        run = by_number[trial.number]
        assert run.info.run_name == f"trial {trial.number}"
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.state"] == "COMPLETE"
        values = trial.user_attrs["params"]
        assert run.data.params == {k: json.dumps(v) for k, v in values.items()}
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert {p.step: p.value for p in history} == trial.intermediate_values
        assert run.data.metrics["best_val_loss"] == trial.value
