"""The shipped image configs with both frameworks: configs/digits.yaml (PyTorch CNN) and
configs/digits-keras.yaml (Keras CNN) trained to their accuracy bars, exported with
parity, and both served by the same service code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import load_settings
from serving.api import create_api
from serving.cache import LRUCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from tests.services import require_module
from tests.training.conftest import Env, open_env
from training.pipeline import TrainOutcome, train_and_register

ROOT = Path(__file__).resolve().parents[3]


# -- the shipped image config, both frameworks ----------------------------------------------
def _digits_env(tmp_path: Path, config: str) -> Env:
    settings = load_settings(ROOT / "configs" / config).model_copy(
        update={"data_dir": tmp_path / "data"}
    )
    return open_env(settings)


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Env, list[TrainOutcome]]:
    """configs/digits.yaml (PyTorch) then configs/digits-keras.yaml (Keras), registered as
    v1 and v2 of one model name so that one service serves both in turn."""
    require_module("tensorflow", pip="pip install -e '.[keras]'")  # the Keras CNN
    env = _digits_env(tmp_path_factory.mktemp("digits"), "digits.yaml")
    torch_run = train_and_register(env.scope, env.registry, progress=False)
    keras_settings = load_settings(ROOT / "configs" / "digits-keras.yaml").model_copy(
        update={"data_dir": env.settings.data_dir, "model_name": env.settings.model_name}
    )
    keras_run = train_and_register(keras_settings.training_scope(), env.registry, progress=False)
    return env, [torch_run, keras_run]


def test_digits_cnns_reach_their_accuracy_bars(
    digits_runs: tuple[Env, list[TrainOutcome]],
) -> None:
    _, (torch_run, keras_run) = digits_runs
    assert torch_run.trained.framework == "torch" and keras_run.trained.framework == "keras"
    assert torch_run.metrics["serving"]["accuracy"] >= 0.97, torch_run.metrics["serving"]
    assert keras_run.metrics["serving"]["accuracy"] >= 0.95, keras_run.metrics["serving"]
    for run in (torch_run, keras_run):
        assert run.metrics["serving"]["rows"] == 270  # 15% of 1,797
        ops = {node.op_type for node in onnx.load(run.bundle.path / "model.onnx").graph.node}
        assert ops & {"Conv", "ConvInteger", "QLinearConv"}, ops
        assert run.bundle.contract().image_shape == [1, 8, 8]
        assert run.bundle.lineage().framework == run.trained.framework


def test_both_cnns_serve_through_the_same_service(
    digits_runs: tuple[Env, list[TrainOutcome]],
) -> None:
    env, runs = digits_runs
    name = env.settings.model_name
    holder = ModelHolder(env.registry, name, env.settings.serving)
    predictor = Predictor(
        holder,
        LRUCache(100),
        env.input_log,
        ServingMetrics(CollectorRegistry()),
        env.settings.serving,
        env.registry,
    )
    client = TestClient(create_api(lambda: predictor))
    test = runs[0].trained.splits.test
    rows = test.frame.iloc[:40]
    instances = [{k: float(v) for k, v in row.items()} for _, row in rows.iterrows()]
    for run in runs:
        env.registry.promote(name, run.bundle.version, reason="serve it")
        holder.refresh()
        response = client.post("/predict", json={"instances": instances})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["version"] == run.bundle.version
        predicted = [p["class"] for p in body["predictions"]]
        accuracy = np.mean(np.array(predicted) == test.target.iloc[:40].to_numpy())
        assert accuracy >= 0.9, (run.trained.framework, accuracy)
        assert set(body["predictions"][0]["probabilities"]) == set(runs[0].trained.dataset.classes)


def test_trainsmart_train_with_the_image_config(tmp_path: Path) -> None:
    """The command a user runs: `trainsmart --config configs/digits.yaml train`."""
    from click.testing import CliRunner

    from apps.cli.main import cli

    result = CliRunner().invoke(
        cli,
        ["--config", str(ROOT / "configs" / "digits.yaml"), "train", "--quiet"],
        env={"TRAINSMART_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.exit_code == 0, result.output
    env = open_env(
        load_settings(ROOT / "configs" / "digits.yaml").model_copy(
            update={"data_dir": tmp_path / "data"}
        )
    )
    assert env.registry.production("digits") == "v1"
    bundle = env.registry.get("digits", "v1")
    assert bundle.metrics()["serving"]["accuracy"] >= 0.97
    assert bundle.report_path.is_file()
