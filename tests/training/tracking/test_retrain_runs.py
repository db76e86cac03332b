"""Retrain jobs against a real MLflow server: each job is a run tagged with what triggered
it and the gate's verdict (promoted, or rejected and why), the promoted challenger linked
both ways like a `trainsmart train`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from tests.mlflow_server import MlflowServer
from tests.training.conftest import Env, open_env
from tests.training.tracking.conftest import tracked_settings
from training.data import Dataset
from training.pipeline import train_and_register
from training.retrain import run_retrain
from training.tracking import VERSION_TAG
from trainsmart.state import Trigger
from trainsmart.state.jobs import JobStore

LABELLED = 120


def with_retrain(env: Env, **update: object) -> Env:
    retrain = env.settings.training.retrain.model_copy(update=update)
    training = env.settings.training.model_copy(update={"retrain": retrain})
    env.settings = env.settings.model_copy(update={"training": training})
    return env


def log_labelled(env: Env, dataset: Dataset) -> None:
    name = env.settings.model_name
    test = dataset.frame.iloc[:LABELLED].to_dict(orient="records")
    for i, (row, label) in enumerate(zip(test, dataset.target.iloc[:LABELLED], strict=True)):
        env.input_log.append(f"req-{i}", name, "v1", [row], [{"class": "0"}], [False])
        env.input_log.add_feedback(f"req-{i}", str(label))


@pytest.fixture(scope="module")
def champion_dir(tmp_path_factory: pytest.TempPathFactory, small_fair: Dataset) -> Path:
    """A data directory whose production v1 is a tiny model, ``LABELLED`` rows labelled."""
    data_dir = tmp_path_factory.mktemp("retrain-champion")
    env = open_env(tracked_settings(data_dir))
    champion = train_and_register(env.scope, env.registry, dataset=small_fair, progress=False)
    env.registry.promote(env.settings.model_name, champion.bundle.version, reason="first")
    log_labelled(env, small_fair)
    env.db.close()
    return data_dir


@pytest.fixture
def env(mlflow_server: MlflowServer, tmp_path: Path, champion_dir: Path) -> Env:
    """A private copy of the champion's directory, tracking retraining in the experiment
    named after the test's folder."""
    shutil.copytree(champion_dir, tmp_path / "data")
    settings = tracked_settings(
        tmp_path / "data", mlflow_uri=mlflow_server.uri, experiment=f"retrain-{tmp_path.name}"
    )
    return open_env(settings)


def only_run(server: MlflowServer, experiment: str) -> Run:
    client = MlflowClient(server.uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs = client.search_runs([found.experiment_id], "tags.`trainsmart.kind` = 'retrain'")
    assert len(runs) == 1
    return runs[0]


def test_a_promoted_challenger_is_a_run_with_trigger_verdict_and_version(
    env: Env, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    with_retrain(env, margin=-1.0, min_labelled_rows=50)
    name = env.settings.model_name
    job = JobStore(env.db).create(name, "3 drifted windows", trigger=Trigger.DRIFT)
    assert job is not None
    outcome = run_retrain(env.scope, env.registry, env.input_log, job_id=job.id)
    assert outcome.status == "promoted", outcome.reason

    run = only_run(mlflow_server, f"retrain-{tmp_path.name}")
    tags = run.data.tags
    assert run.info.run_name == f"retrain job {job.id}"
    assert tags["trainsmart.trigger"] == "drift"
    assert tags["trainsmart.job_id"] == str(job.id)
    assert tags["trainsmart.job_reason"] == "3 drifted windows"
    assert tags["trainsmart.verdict"] == "promoted"
    assert tags["trainsmart.verdict_reason"] == outcome.reason
    assert tags["trainsmart.champion"] == "v1"
    metric = outcome.metric
    assert run.data.metrics[f"holdout.champion.{metric}"] == outcome.champion_metrics[metric]
    assert (
        run.data.metrics[f"test.challenger.{metric}"] == (outcome.challenger_test_metrics[metric])
    )
    assert tags[VERSION_TAG] == outcome.version == "v2"
    lineage = env.registry.get(name, "v2").lineage()
    assert lineage.tracking["mlflow_run_id"] == run.info.run_id
    assert (lineage.trigger, lineage.job_id) == ("retrain", job.id)
    client = MlflowClient(mlflow_server.uri)
    assert "model.onnx" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert client.get_metric_history(run.info.run_id, "val_loss"), "epochs of the challenger"
    env.db.close()


def test_a_rejected_retrain_is_a_run_saying_why(
    env: Env, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    with_retrain(env, min_labelled_rows=10_000)
    job = JobStore(env.db).create(env.settings.model_name, "alert", trigger=Trigger.WEBHOOK)
    assert job is not None
    outcome = run_retrain(env.scope, env.registry, env.input_log, job_id=job.id)
    assert outcome.status == "rejected"

    run = only_run(mlflow_server, f"retrain-{tmp_path.name}")
    tags = run.data.tags
    assert tags["trainsmart.trigger"] == "webhook"
    assert tags["trainsmart.verdict"] == "rejected"
    assert tags["trainsmart.verdict_reason"] == outcome.reason
    assert f"only {LABELLED} labelled rows" in tags["trainsmart.verdict_reason"]
    assert VERSION_TAG not in tags
    assert run.info.status == "FINISHED"
    env.db.close()
