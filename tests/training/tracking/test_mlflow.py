"""`trainsmart train` against a real MLflow server: the run read back through MlflowClient
(params, tags, per-epoch history, test metrics, artifacts) and linked both ways with the
registered version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from apps.cli.main import cli
from tests.mlflow_server import MlflowServer
from tests.training.conftest import open_env
from tests.training.tracking.conftest import EPOCHS, TINY_TRAINING, tracked_settings
from training.data import Dataset
from training.pipeline import train_and_register
from training.tracking import VERSION_TAG
from trainsmart.errors import TrainingError
from trainsmart.registry import Bundle


@dataclass
class Trained:
    client: MlflowClient
    run: Run
    bundle: Bundle
    server: MlflowServer


@pytest.fixture(scope="module")
def trained(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One `trainsmart train` with training.tracking.mlflow_uri set in trainsmart.yaml."""
    data_dir = tmp_path_factory.mktemp("tracked")
    config = data_dir / "trainsmart.yaml"
    tracking = {"mlflow_uri": mlflow_server.uri, "experiment": "cli-train"}
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(data_dir),
                "data": {"reference_size": 200},
                "training": {**TINY_TRAINING, "tracking": tracking},
            }
        )
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "train", "--quiet"])
    assert result.exit_code == 0, result.output
    env = open_env(tracked_settings(data_dir, mlflow_uri=mlflow_server.uri))
    name = env.settings.model_name
    bundle = env.registry.get(name, env.registry.versions(name)[-1])
    env.db.close()
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("cli-train")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, "one `trainsmart train`, one run"
    return Trained(client, runs[0], bundle, mlflow_server)


def test_params_are_the_effective_settings_and_tags_name_model_and_data(trained: Trained) -> None:
    run, lineage = trained.run, trained.bundle.lineage()
    params = run.data.params
    assert params["training.max_epochs"] == str(EPOCHS)
    assert params["training.hidden_sizes"] == "[8]"
    assert params["training.learning_rate"] == str(lineage.hyperparameters["learning_rate"])
    assert params["training.compression.enabled"] == "false"
    assert params["data.dataset"] == "fair"
    assert params["model_name"] == trained.bundle.name
    assert not [key for key in params if key.startswith("training.tracking")]
    tags = run.data.tags
    assert tags["trainsmart.model"] == trained.bundle.name
    assert tags["trainsmart.framework"] == lineage.framework == "torch"
    assert tags["trainsmart.code_version"] == lineage.code_version
    assert tags["trainsmart.data_fingerprint"] == lineage.dataset_fingerprint
    assert tags["trainsmart.serving_variant"] == lineage.serving_variant
    assert run.info.status == "FINISHED"


def test_every_epoch_is_a_step_of_the_loss_and_score_history(trained: Trained) -> None:
    validation = trained.bundle.metrics()["validation"]
    epochs = int(validation["epochs_run"])
    assert 1 <= epochs <= EPOCHS
    history = {
        key: trained.client.get_metric_history(trained.run.info.run_id, key)
        for key in ("train_loss", "val_loss", "val_score", "lr")
    }
    for key, points in history.items():
        assert sorted(p.step for p in points) == list(range(1, epochs + 1)), key
    val_loss = {p.step: p.value for p in history["val_loss"]}
    best = int(validation["best_epoch"])
    assert val_loss[best] == pytest.approx(validation["loss"])
    assert min(val_loss.values()) == pytest.approx(validation["loss"])
    score = {p.step: p.value for p in history["val_score"]}
    assert score[best] == pytest.approx(validation["accuracy"])


def test_test_metrics_of_every_variant_are_logged(trained: Trained) -> None:
    logged = trained.run.data.metrics
    metrics: dict[str, Any] = trained.bundle.metrics()
    for section in ("torch", "fp32", "serving"):
        for name, value in metrics[section].items():
            assert logged[f"{section}.{name}"] == pytest.approx(value), (section, name)
    table: list[dict[str, Any]] = metrics["variants"]["table"]
    assert table, "the variant table lists at least fp32"
    for row in table:
        for name, value in row["metrics"].items():
            assert logged[f"variants.{row['name']}.metrics.{name}"] == pytest.approx(value)


def test_served_model_and_report_are_artifacts(trained: Trained, tmp_path: Path) -> None:
    run_id = trained.run.info.run_id
    top = {a.path for a in trained.client.list_artifacts(run_id)}
    assert {"model.onnx", "metrics.json", "lineage.json", "contract.json", "report"} <= top
    report = {a.path for a in trained.client.list_artifacts(run_id, "report")}
    assert "report/report.md" in report
    model = Path(trained.client.download_artifacts(run_id, "model.onnx", str(tmp_path)))
    assert _sha256(model) == _sha256(trained.bundle.model_path)
    text = Path(trained.client.download_artifacts(run_id, "report/report.md", str(tmp_path)))
    assert text.read_text() == trained.bundle.report_path.read_text()


def test_version_and_run_are_linked_both_ways(trained: Trained, tmp_path: Path) -> None:
    run_id = trained.run.info.run_id
    tracking = trained.bundle.lineage().tracking
    assert tracking["mlflow_run_id"] == run_id
    assert tracking["mlflow_uri"] == trained.server.uri
    assert tracking["mlflow_experiment_id"] == trained.run.info.experiment_id
    assert trained.run.data.tags[VERSION_TAG] == trained.bundle.version
    uploaded = Path(trained.client.download_artifacts(run_id, "lineage.json", str(tmp_path)))
    assert json.loads(uploaded.read_text())["tracking"]["mlflow_run_id"] == run_id


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_training_that_fails_leaves_a_failed_run_saying_why(
    mlflow_server: MlflowServer, tmp_path: Path, small_fair: Dataset
) -> None:
    settings = tracked_settings(
        tmp_path / "data",
        training={"architecture": "cnn"},  # tables are not images: fails before epoch 1
        mlflow_uri=mlflow_server.uri,
        experiment="failing",
    )
    env = open_env(settings)
    with pytest.raises(TrainingError, match="not images"):
        train_and_register(env.scope, env.registry, dataset=small_fair, progress=False)
    env.db.close()
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("failing")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["trainsmart.error"].startswith("TrainingError: training.architecture")


def test_an_ensemble_is_one_run_linked_to_its_version(
    mlflow_server: MlflowServer, tmp_path: Path, small_fair: Dataset
) -> None:
    from training.ensemble import register_ensemble  # lazy: only this test builds folds

    settings = tracked_settings(
        tmp_path / "data", mlflow_uri=mlflow_server.uri, experiment="ensemble"
    )
    env = open_env(settings)
    outcome = register_ensemble(env.scope, env.registry, 2, dataset=small_fair)
    env.db.close()
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("ensemble")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert outcome.bundle.lineage().tracking["mlflow_run_id"] == run.info.run_id
    assert run.data.tags[VERSION_TAG] == outcome.bundle.version
    assert outcome.bundle.lineage().ensemble["folds"] == 2
