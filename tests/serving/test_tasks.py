"""Regression and image contracts through every protocol: /predict answers values, images
arrive as pixels, nested lists or tensors, and the input log always holds pixel rows."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.api import create_api
from serving.cache import LRUCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder, load_model
from tests.conftest import linear_onnx, logistic_onnx
from trainsmart.errors import RegistryError
from trainsmart.registry import FeatureSpec, InputContract, Lineage, Registry
from trainsmart.registry.contract import Task
from trainsmart.state import InputLog

WEIGHTS = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 1.5])
PIXELS = [f"pixel_{i}" for i in range(6)]


def _register(
    registry: Registry,
    tmp_path: Path,
    name: str,
    contract: InputContract,
    write: Callable[[Path, np.ndarray, float], None] | None = None,
) -> str:
    """Register and promote a 6-feature model for ``contract``: value = x.w + 10 for
    regression, softmax([0, x.w]) otherwise, unless ``write`` writes another model.onnx."""
    staging = tmp_path / f"staging-{name}"
    staging.mkdir()
    if write is None:
        write = linear_onnx if contract.task == "regression" else logistic_onnx
    write(staging / "model.onnx", WEIGHTS, 10.0 if contract.task == "regression" else 0.0)
    (staging / "contract.json").write_text(contract.model_dump_json())
    (staging / "metrics.json").write_text("{}")
    row = {f.name: 1.0 for f in contract.features}
    pd.DataFrame([row] * 3).to_parquet(staging / "reference.parquet")
    bundle = registry.register(name, staging, Lineage(dataset_fingerprint="test"))
    registry.promote(name, bundle.version, reason="test")
    return bundle.version


def _client(registry: Registry, settings: Settings, input_log: InputLog, name: str) -> TestClient:
    holder = ModelHolder(registry, name, settings.serving)
    holder.refresh()
    predictor = Predictor(
        holder,
        LRUCache(100),
        input_log,
        ServingMetrics(CollectorRegistry()),
        settings.serving,
        registry,
    )
    return TestClient(create_api(lambda: predictor))


@pytest.fixture
def regression(
    registry: Registry, settings: Settings, input_log: InputLog, tmp_path: Path
) -> TestClient:
    features = [FeatureSpec(name=f"x{i}", kind="numeric") for i in range(6)]
    contract = InputContract(features=features, task="regression", output_name="value")
    _register(registry, tmp_path, "price", contract)
    return _client(registry, settings, input_log, "price")


@pytest.fixture
def images(
    registry: Registry, settings: Settings, input_log: InputLog, tmp_path: Path
) -> TestClient:
    features = [FeatureSpec(name=n, kind="numeric") for n in PIXELS]
    contract = InputContract(features=features, classes=["dark", "light"], image_shape=[1, 2, 3])
    _register(registry, tmp_path, "shade", contract)
    return _client(registry, settings, input_log, "shade")


def test_regression_answers_values_and_caches_them(regression: TestClient) -> None:
    rows = [{f"x{i}": float(i + k) for i in range(6)} for k in range(3)]
    first = regression.post("/predict", json={"instances": rows})
    assert first.status_code == 200, first.text
    expected = [float(np.dot([i + k for i in range(6)], WEIGHTS) + 10.0) for k in range(3)]
    values = [p["value"] for p in first.json()["predictions"]]
    assert values == pytest.approx(expected, rel=1e-6)
    again = regression.post("/predict", json={"instances": rows[:1]}).json()["predictions"][0]
    assert again == {"value": pytest.approx(expected[0]), "cached": True}


def test_regression_columns_are_logged_with_their_values(
    regression: TestClient, input_log: InputLog
) -> None:
    columns = {f"x{i}": [1.0, None] for i in range(6)}
    answer = regression.post("/predict", json={"columns": columns})
    assert answer.status_code == 200, answer.text
    values = [p["value"] for p in answer.json()["predictions"]]
    assert values == pytest.approx([WEIGHTS.sum() + 10.0, 10.0])  # null imputed as 0
    logged = input_log.request(answer.json()["request_id"])
    assert [row.prediction for row in logged] == [{"value": v} for v in values]


@pytest.mark.parametrize("label", ["high", "3.5", None, True, [1.0], 1e300, math.nan])
def test_regression_feedback_needs_a_finite_number(
    regression: TestClient, input_log: InputLog, label: object
) -> None:
    served = regression.post("/predict", json={"instances": [{f"x{i}": 1.0 for i in range(6)}]})
    request_id = served.json()["request_id"]
    body = json.dumps({"request_id": request_id, "label": label})  # NaN as Python's json sends it
    bad = regression.post("/feedback", content=body, headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["field"] == "label"
    assert "a finite number (the true value)" in bad.json()["error"]
    good = regression.post("/feedback", json={"request_id": request_id, "label": 12})
    assert good.status_code == 200 and good.json()["label"] == "12.0"
    assert [row.label for row in input_log.labelled("price", 10)] == ["12.0"]


def test_regression_over_v2(regression: TestClient) -> None:
    meta = regression.get("/v2/models/price").json()
    assert meta["outputs"] == [{"name": "value", "datatype": "FP32", "shape": [-1, 1]}]
    assert meta["parameters"]["task"] == "regression" and "classes" not in meta["parameters"]
    body = {"inputs": [{"name": "input", "shape": [2, 6], "datatype": "FP32", "data": [1] * 12}]}
    answer = regression.post("/v2/models/price/infer", json=body)
    assert answer.status_code == 200, answer.text
    (output,) = answer.json()["outputs"]
    assert output["name"] == "value" and output["shape"] == [2, 1]
    assert output["data"] == pytest.approx([WEIGHTS.sum() + 10.0] * 2)
    wrong = {**body, "outputs": [{"name": "probabilities"}]}
    refused = regression.post("/v2/models/price/infer", json=wrong)
    assert refused.status_code == 400 and "outputs[0].name" in refused.json()["error"]


def test_an_image_is_served_from_pixels_or_a_nested_list(
    images: TestClient, input_log: InputLog
) -> None:
    pixels = {n: float(i) for i, n in enumerate(PIXELS)}
    flat = images.post("/predict", json={"instances": [pixels]})
    nested = images.post("/predict", json={"instances": [{"image": [[0, 1, 2], [3, 4, 5]]}]})
    channels = images.post("/predict", json={"instances": [{"image": [[[0, 1, 2], [3, 4, 5]]]}]})
    for answer in (flat, nested, channels):
        assert answer.status_code == 200, answer.text
    assert nested.json()["predictions"][0]["cached"] is True  # the same row as pixels
    logged = input_log.request(nested.json()["request_id"])
    assert logged[0].features == pixels


@pytest.mark.parametrize(
    ("image", "field"),
    [
        ([[0, 1, 2]], "instances[0].image"),
        ([[0, 1, 2], [3, 4]], "instances[0].image[1]"),
        ([[0, 1, 2], [3, 4, "x"]], "instances[0].image[1][2]"),
        ("0,1,2", "instances[0].image"),
        ([[0, 1, 2], [3, 4, 1e300]], "instances[0].image[1][2]"),
    ],
)
def test_a_malformed_image_names_the_field(images: TestClient, image: object, field: str) -> None:
    answer = images.post("/predict", json={"instances": [{"image": image}]})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"field '{field}'"), answer.json()


def test_an_image_row_takes_no_other_field(images: TestClient) -> None:
    row = {"image": [[0, 1, 2], [3, 4, 5]], "pixel_0": 1.0}
    answer = images.post("/predict", json={"instances": [row]})
    assert answer.status_code == 400 and "instances[0].pixel_0" in answer.json()["error"]


@pytest.mark.parametrize("shape", [[2, 6], [2, 2, 3], [2, 1, 2, 3]])
def test_v2_takes_an_image_tensor_in_any_of_its_shapes(
    images: TestClient, input_log: InputLog, shape: list[int]
) -> None:
    data = [float(v) for v in range(6)] * 2
    body = {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data}]}
    answer = images.post("/v2/models/shade/infer", json=body)
    assert answer.status_code == 200, answer.text
    probabilities, classes = answer.json()["outputs"]
    assert probabilities["shape"] == [2, 2] and classes["data"] == ["light", "light"]
    logit = float(np.dot(range(6), WEIGHTS))
    assert probabilities["data"][1] == pytest.approx(1 / (1 + np.exp(-logit)), rel=1e-5)
    logged = input_log.request(answer.json()["parameters"]["request_id"])
    assert [row.features for row in logged] == [dict(zip(PIXELS, data[:6], strict=True))] * 2


def test_image_metadata_names_the_shape(images: TestClient) -> None:
    parameters = images.get("/v2/models/shade").json()["parameters"]
    assert parameters["image_shape"] == [1, 2, 3] and parameters["classes"] == ["dark", "light"]
    assert parameters["features"] == PIXELS and parameters["task"] == "classification"


@pytest.mark.parametrize(
    ("tensor", "field"),
    [
        ({"shape": [1, 2, 3], "datatype": "BYTES", "data": ["a"] * 6}, "inputs.input.datatype"),
        ({"shape": [2, 2, 3], "datatype": "FP32", "data": [0.0] * 6}, "inputs.input.data"),
        ({"shape": [1, 2, 3], "datatype": "INT32", "data": [0, 1, 2.5, 3, 4, 5]}, "data[2]"),
        ({"shape": [1, 2, 3], "datatype": "FP32", "data": [0, 1, 2, 3, 4, 1e300]}, "pixel_5"),
    ],
)
def test_a_bad_image_tensor_is_400_naming_the_input(
    images: TestClient, tensor: dict[str, object], field: str
) -> None:
    body = {"inputs": [{"name": "input", **tensor}]}
    answer = images.post("/v2/models/shade/infer", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"].startswith("inputs.input") and field in answer.json()["field"]


def test_v2_refuses_an_image_tensor_of_another_shape(images: TestClient) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 3, 2], "datatype": "FP32", "data": [0] * 6}]}
    answer = images.post("/v2/models/shade/infer", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert "inputs.input.shape" in error and "[n, 1, 2, 3]" in error and "[n, 2, 3]" in error


@pytest.mark.parametrize(
    ("task", "output", "write", "expected"),
    [
        ("regression", "probabilities", logistic_onnx, "expected [2, 1] (one value per row)"),
        ("classification", "value", linear_onnx, "expected [2, 2] (one probability per"),
    ],
)
def test_a_model_whose_output_does_not_fit_the_task_is_refused_at_load(
    registry: Registry,
    settings: Settings,
    tmp_path: Path,
    task: Task,
    output: str,
    write: Callable[[Path, np.ndarray, float], None],
    expected: str,
) -> None:
    features = [FeatureSpec(name=f"x{i}", kind="numeric") for i in range(6)]
    classes = ["no", "yes"] if task == "classification" else []
    contract = InputContract(features=features, task=task, classes=classes, output_name=output)
    version = _register(registry, tmp_path, "odd", contract, write=write)
    with pytest.raises(RegistryError) as caught:
        load_model(registry, "odd", version, settings.serving)
    assert expected in caught.value.message and f"odd:{version}" in caught.value.message
