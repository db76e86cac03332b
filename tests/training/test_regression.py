"""Regression targets end to end: data, splits, training with both frameworks, ONNX
parity, metrics and report, cross-validation, registration, and serving a value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import Settings, load_settings
from serving.api import create_api
from serving.cache import LRUCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from tests.services import require_module
from tests.training.conftest import Env, open_env
from training.cv import cross_validate
from training.data import load_dataset, split
from training.metrics import regression_metrics
from training.onnx_parity import onnx_predict
from training.pipeline import TrainOutcome, train_and_register
from training.report import CONFUSION_FILE, PREDICTIONS_FILE, REPORT_DIR, REPORT_FILE
from trainsmart.errors import TrainingError

ROOT = Path(__file__).resolve().parents[2]


def diabetes_settings(data_dir: Path, **training: object) -> Settings:
    settings = load_settings(ROOT / "configs" / "diabetes.yaml")
    update = settings.training.model_copy(update=training)
    return settings.model_copy(update={"data_dir": data_dir, "training": update})


@pytest.fixture(scope="module")
def diabetes_env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return open_env(diabetes_settings(tmp_path_factory.mktemp("diabetes")))


@pytest.fixture(scope="module")
def diabetes_run(diabetes_env: Env) -> TrainOutcome:
    outcome = train_and_register(diabetes_env.scope, diabetes_env.registry, progress=False)
    diabetes_env.registry.promote(
        diabetes_env.settings.model_name, outcome.bundle.version, reason="first"
    )
    return outcome


def test_diabetes_is_a_regression_dataset() -> None:
    settings = diabetes_settings(Path(".unused"))
    dataset = load_dataset(settings.data)
    assert dataset.task == "regression" and dataset.classes == []
    assert len(dataset) == 442 and len(dataset.features) == 10
    assert dataset.target.dtype == np.float64
    splits = split(dataset, settings.data)
    # stratified by quintile: every split spans low and high targets
    for part in (splits.train, splits.validation, splits.test):
        assert part.target.min() < 90 and part.target.max() > 250


def test_a_user_table_can_be_a_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=50), "colour": ["red", "blue"] * 25})
    frame["price"] = 3 * frame["x"] + 10
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = {
        "dataset": "file",
        "path": str(tmp_path / "t.csv"),
        "target": "price",
        "task": "regression",
        "features": [{"name": "x"}, {"name": "colour", "kind": "categorical"}],
    }
    settings = Settings(data_dir=tmp_path, data=data)
    dataset = load_dataset(settings.data)
    assert dataset.regression and dataset.target.tolist() == pytest.approx(frame["price"])
    frame["price"] = ["cheap", "dear"] * 25
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(TrainingError, match="not numeric"):
        load_dataset(settings.data)


def test_regression_model_exports_a_value_with_parity(diabetes_run: TrainOutcome) -> None:
    contract = diabetes_run.bundle.contract()
    assert contract.task == "regression" and contract.output_name == "value"
    graph = onnx.load(diabetes_run.bundle.path / "model.onnx").graph
    assert graph.output[0].name == "value"
    assert graph.output[0].type.tensor_type.shape.dim[1].dim_value == 1
    trained = diabetes_run.trained
    x_test = trained.encode(trained.splits.test.frame)
    served = onnx_predict(diabetes_run.bundle.path / "model.onnx", x_test)
    assert served.shape == (len(x_test), 1)
    np.testing.assert_allclose(served, trained.predict_proba(x_test), atol=1e-3, rtol=1e-5)
    # the predictions are in the target's units and the metrics are computed from them
    metrics = diabetes_run.metrics["fp32"]
    assert metrics == pytest.approx(regression_metrics(trained.splits.test.target, served))
    assert set(metrics) >= {"mse", "rmse", "mae", "r2"} and metrics["r2"] > 0.3


def test_regression_report_has_predictions_not_a_confusion_matrix(
    diabetes_run: TrainOutcome,
) -> None:
    report = diabetes_run.bundle.path / REPORT_DIR
    text = (report / REPORT_FILE).read_text()
    assert "| variant | mse | rmse | mae | r2 | rows |" in text
    assert "validation r2" in text and "Confusion" not in text
    assert (report / PREDICTIONS_FILE).stat().st_size > 1000
    assert not (report / CONFUSION_FILE).exists()


def test_regression_is_served_as_a_value(diabetes_run: TrainOutcome, diabetes_env: Env) -> None:
    holder = ModelHolder(
        diabetes_env.registry, diabetes_env.settings.model_name, diabetes_env.settings.serving
    )
    predictor = Predictor(
        holder,
        LRUCache(100),
        diabetes_env.input_log,
        ServingMetrics(CollectorRegistry()),
        diabetes_env.settings.serving,
        diabetes_env.registry,
    )
    holder.refresh()
    client = TestClient(create_api(lambda: predictor))
    trained = diabetes_run.trained
    rows = trained.splits.test.frame.iloc[:5]
    instances = [{k: float(v) for k, v in row.items()} for _, row in rows.iterrows()]
    response = client.post("/predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    expected = trained.predict_proba(trained.encode(rows)).reshape(-1)
    assert [p["value"] for p in predictions] == pytest.approx(expected, rel=1e-4)
    assert all("class" not in p for p in predictions)
    request_id = response.json()["request_id"]
    good = client.post("/feedback", json={"request_id": request_id, "label": 151.5})
    assert good.status_code == 200, good.text
    bad = client.post("/feedback", json={"request_id": request_id, "label": "high"})
    assert bad.status_code == 400 and "label" in bad.text


def test_keras_regression_trains_and_exports_with_parity(tmp_path: Path) -> None:
    require_module("tensorflow", pip="pip install -e '.[keras]'")
    env = open_env(diabetes_settings(tmp_path, framework="keras", max_epochs=30))
    outcome = train_and_register(env.scope, env.registry, progress=False)
    assert outcome.trained.framework == "keras"
    assert outcome.metrics["keras"]["mse"] == pytest.approx(
        outcome.metrics["fp32"]["mse"], rel=1e-4
    )
    assert outcome.metrics["fp32"]["r2"] > 0.3


def test_regression_cross_validation_reports_mean_and_std(tmp_path: Path) -> None:
    result = cross_validate(diabetes_settings(tmp_path, max_epochs=20).training_scope(), 3)
    summary = result.summary()
    for metric in ("mse", "mae", "r2"):
        values = [fold.metrics[metric] for fold in result.folds]
        assert summary[metric]["mean"] == pytest.approx(np.mean(values))
        assert summary[metric]["std"] == pytest.approx(np.std(values, ddof=1)) and values[0] > 0
