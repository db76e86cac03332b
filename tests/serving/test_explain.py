"""POST /explain: SHAP attributions that add up to the model's output (classification,
regression, a string category, an image model and its PNG), /predict's validation with the
same errors, its own row cap, timeout (503) and missing-package (501) answers, its metrics,
its OpenAPI entry, and nothing written to the input log."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper
from openapi_spec_validator import validate
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.api import create_api
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from tests.conftest import linear_onnx, logistic_onnx
from tests.services import require_module
from trainsmart.registry import FeatureSpec, InputContract, Lineage, Registry
from trainsmart.state import InputLog

NUMERIC = ["a", "b", "c", "d"]
WEIGHTS = np.array([1.5, -2.0, 0.0, 0.7, 0.4])  # c is not used; the last is the colour's code
COLOURS = ["blue", "green", "red"]


@pytest.fixture
def shap_installed() -> None:
    require_module("shap", "pip install 'trainsmart[explain]'")


def table_contract(task: str = "classification") -> InputContract:
    features = [FeatureSpec(name=n, kind="numeric", min=-3.0, max=3.0) for n in NUMERIC]
    features.append(FeatureSpec(name="colour", kind="categorical", categories=list(COLOURS)))
    if task == "regression":
        return InputContract(features=features, task="regression", output_name="value")
    return InputContract(features=features, classes=["no", "yes"])


def reference(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(NUMERIC))), columns=NUMERIC)
    frame["colour"] = rng.choice(COLOURS, size=rows)
    return frame


def request_rows(n: int) -> list[dict[str, Any]]:
    frame = reference(n, seed=1)
    return [{**row, "colour": str(row["colour"])} for row in frame.to_dict("records")]


def image_onnx(path: Path, weights: np.ndarray, bias: float) -> None:
    """A tiny CNN over 1x4x4 images: reshape, 3x3 conv to 2 channels, ReLU, dense, softmax."""
    del weights, bias
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(2, 1, 3, 3)).astype(np.float32)
    dense = rng.normal(size=(32, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Reshape", ["input", "shape"], ["image"]),
        helper.make_node("Conv", ["image", "K"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("Flatten", ["relu"], ["flat"]),
        helper.make_node("MatMul", ["flat", "D"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        initializer=[
            helper.make_tensor("shape", TensorProto.INT64, [4], [-1, 1, 4, 4]),
            helper.make_tensor("K", TensorProto.FLOAT, conv.shape, conv.flatten().tolist()),
            helper.make_tensor("D", TensorProto.FLOAT, dense.shape, dense.flatten().tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def image_contract() -> InputContract:
    features = [FeatureSpec(name=f"pixel_{k}", kind="numeric", min=0.0, max=1.0) for k in range(16)]
    return InputContract(features=features, classes=["0", "1", "2"], image_shape=[1, 4, 4])


Register = Callable[[InputContract, Callable[[Path, np.ndarray, float], None], pd.DataFrame], str]


@pytest.fixture
def register(registry: Registry, tmp_path: Path) -> Register:
    """Register and promote a 'fair' bundle with this contract, model and reference sample."""

    def make(contract: InputContract, write: Any, ref: pd.DataFrame) -> str:
        staging = tmp_path / f"staging-{len(registry.versions('fair'))}"
        staging.mkdir()
        write(staging / "model.onnx", WEIGHTS, 0.2)
        (staging / "contract.json").write_text(contract.model_dump_json())
        (staging / "metrics.json").write_text("{}")
        ref.to_parquet(staging / "reference.parquet")
        version = registry.register("fair", staging, Lineage(dataset_fingerprint="t")).version
        registry.promote("fair", version, reason="test")
        return version

    return make


def make_predictor(
    holder: ModelHolder,
    input_log: InputLog,
    settings: Settings,
    registry: Registry,
    metrics: ServingMetrics,
    **serving: Any,
) -> Predictor:
    """A predictor with these serving settings; the explain timeout defaults to 300 s, as a
    worker's first explanation compiles shap's kernels (seconds; more on a loaded machine)."""
    holder.refresh()
    chosen = settings.serving.model_copy(update={"explain_timeout_s": 300.0, **serving})
    return Predictor(holder, None, input_log, metrics, chosen, registry)


def client_of(predictor: Predictor) -> TestClient:
    return TestClient(create_api(lambda: predictor))


@pytest.fixture
def explain_client(
    holder: ModelHolder,
    input_log: InputLog,
    settings: Settings,
    registry: Registry,
    serving_metrics: ServingMetrics,
    shap_installed: None,
) -> Callable[..., TestClient]:
    """A client of the app over a predictor with these serving settings (needs shap)."""

    def make(**serving: Any) -> TestClient:
        return client_of(
            make_predictor(holder, input_log, settings, registry, serving_metrics, **serving)
        )

    return make


def assert_additive(answer: dict[str, Any]) -> None:
    """base + sum(attributions) == the output, per row and class, within the tolerance."""
    tolerance = answer["additivity_tolerance"]
    assert 0 < tolerance <= 1e-5
    for row in answer["explanations"]:
        assert 0.0 <= row["additivity_error"] <= tolerance
        if "value" in row:
            total = row["base_value"] + sum(np.ravel(list(_flat(row["attributions"]))))
            assert abs(total - row["value"]) <= tolerance
            continue
        for cls, probability in row["probabilities"].items():
            total = row["base_values"][cls] + sum(_flat(row["attributions"][cls]))
            assert abs(total - probability) <= tolerance, (cls, total, probability)


def _flat(values: Any) -> list[float]:
    if isinstance(values, dict):
        return [float(v) for v in values.values()]
    return [float(v) for v in np.ravel(np.asarray(values, dtype=np.float64))]


def test_classification_attributions_add_up_to_the_probabilities(
    register: Register, explain_client: Callable[..., TestClient], input_log: InputLog
) -> None:
    version = register(table_contract(), logistic_onnx, reference(60))
    client = explain_client()
    rows = request_rows(3)
    answer = client.post("/explain", json={"instances": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model"], body["version"], body["method"]) == ("fair", version, "exact")
    assert body["output"] == "probabilities" and body["background_rows"] == 60
    assert_additive(body)
    predicted = client.post("/predict", json={"instances": rows}).json()["predictions"]
    logged = input_log.count()
    for row, prediction in zip(body["explanations"], predicted, strict=True):
        assert row["class"] == prediction["class"]
        for cls, p in prediction["probabilities"].items():
            assert row["probabilities"][cls] == pytest.approx(p, abs=1e-6)
        assert set(row["attributions"]) == {"no", "yes"}
        assert set(row["attributions"]["yes"]) == {*NUMERIC, "colour"}
        assert abs(row["attributions"]["yes"]["c"]) < 1e-12  # the model ignores c
        assert row["attributions"]["no"]["a"] == pytest.approx(-row["attributions"]["yes"]["a"])
    client.post("/explain", json={"instances": rows})
    assert input_log.count() == logged, "explanations are not logged as traffic"


def test_regression_attributions_are_the_exact_shapley_values_of_a_linear_model(
    register: Register, explain_client: Callable[..., TestClient]
) -> None:
    ref = reference(40)
    register(table_contract("regression"), linear_onnx, ref)
    rows = request_rows(2)
    answer = explain_client().post("/explain", json={"columns": _columns(rows)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["output"] == "value"
    assert_additive(body)
    codes = ref["colour"].map(COLOURS.index)
    means = [*ref[NUMERIC].mean(), codes.mean()]
    for row, sent in zip(body["explanations"], rows, strict=True):
        x = [*(sent[n] for n in NUMERIC), COLOURS.index(sent["colour"])]
        expected = WEIGHTS * (np.asarray(x) - np.asarray(means))  # w * (x - E[x])
        got = [row["attributions"][n] for n in [*NUMERIC, "colour"]]
        np.testing.assert_allclose(got, expected, atol=1e-4)


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in rows[0]}


def test_an_image_model_gets_attribution_maps_and_a_png(
    register: Register, explain_client: Callable[..., TestClient]
) -> None:
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(30, 16))
    register(
        image_contract(), image_onnx, pd.DataFrame(images, columns=image_contract().feature_names)
    )
    client = explain_client()
    image = rng.uniform(size=(4, 4)).round(3).tolist()
    answer = client.post("/explain", json={"instances": [{"image": image}]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["method"] == "partition"
    assert_additive(body)
    maps = body["explanations"][0]["attributions"]
    assert set(maps) == {"0", "1", "2"} and np.asarray(maps["0"]).shape == (1, 4, 4)
    png = client.post("/explain?format=png", json={"instances": [{"image": image}] * 2})
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_body_is_validated_like_predict_with_the_same_errors(
    register: Register, explain_client: Callable[..., TestClient]
) -> None:
    register(table_contract(), logistic_onnx, reference(20))
    client = explain_client()
    good = request_rows(2)
    bodies = [
        {"instances": [{k: v for k, v in good[0].items() if k != "b"}]},
        {"instances": [{**good[0], "b": "high"}]},
        {"instances": [{**good[0], "extra": 1}]},
        {"columns": {**_columns(good), "a": [1.0]}},
        {"instances": good, "columns": _columns(good)},
        {"rows": good},
        {"instances": good, "version": "v999"},
        [1, 2],
    ]
    for body in bodies:
        explained = client.post("/explain", json=body)
        predicted = client.post("/predict", json=body)
        assert explained.status_code in (400, 404), (body, explained.text)
        assert (explained.status_code, explained.json()) == (
            predicted.status_code,
            predicted.json(),
        )
    assert client.post("/explain", json=bodies[0]).json()["field"] == "instances[0].b"
    for query, field in (("?format=xml", "format"), ("?format=png", "format")):
        refused = client.post(f"/explain{query}", json={"instances": good})
        assert refused.status_code == 400 and refused.json()["field"] == field


def test_rows_over_the_explain_cap_are_refused_naming_it(
    register: Register, explain_client: Callable[..., TestClient]
) -> None:
    register(table_contract(), logistic_onnx, reference(20))
    client = explain_client(explain_max_rows=3)
    rows = request_rows(4)
    for body, field in (
        ({"instances": rows}, "instances"),
        ({"columns": _columns(rows)}, "columns"),
    ):
        refused = client.post("/explain", json=body)
        assert refused.status_code == 413, refused.text
        assert refused.json()["field"] == field
        assert "serving.explain_max_rows" in refused.json()["error"]
        assert client.post("/predict", json=body).status_code == 200  # /predict's cap is its own
    assert client.post("/explain", json={"instances": rows[:3]}).status_code == 200


def test_an_explanation_past_the_timeout_answers_503(
    register: Register,
    holder: ModelHolder,
    input_log: InputLog,
    settings: Settings,
    registry: Registry,
    serving_metrics: ServingMetrics,
    shap_installed: None,
) -> None:
    register(table_contract(), logistic_onnx, reference(20))
    predictor = make_predictor(holder, input_log, settings, registry, serving_metrics)
    client = client_of(predictor)
    assert client.post("/explain", json={"instances": request_rows(1)}).status_code == 200
    predictor.settings = predictor.settings.model_copy(update={"explain_timeout_s": 1e-6})
    answer = client.post("/explain", json={"instances": request_rows(2)})
    assert answer.status_code == 503, answer.text
    assert "took longer than" in answer.json()["error"]
    assert "serving.explain_timeout_s" in answer.json()["error"]


def test_a_first_explanation_not_prepared_in_time_answers_503_with_retry_after(
    register: Register, explain_client: Callable[..., TestClient]
) -> None:
    register(table_contract(), logistic_onnx, reference(20))
    answer = explain_client(explain_timeout_s=1e-6).post(
        "/explain", json={"instances": request_rows(1)}
    )
    assert answer.status_code == 503, answer.text
    assert "still being prepared" in answer.json()["error"]
    assert answer.headers["retry-after"].isdigit()


def test_without_shap_explain_answers_501_with_the_install_command(
    register: Register,
    holder: ModelHolder,
    input_log: InputLog,
    settings: Settings,
    registry: Registry,
    serving_metrics: ServingMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(table_contract(), logistic_onnx, reference(20))
    monkeypatch.setitem(sys.modules, "shap", None)  # what `import shap` meets when missing
    client = client_of(make_predictor(holder, input_log, settings, registry, serving_metrics))
    answer = client.post("/explain", json={"instances": request_rows(1)})
    assert answer.status_code == 501, answer.text
    assert "pip install 'trainsmart[explain]'" in answer.json()["error"]


def test_explain_requests_are_counted_and_timed_by_status(
    register: Register,
    explain_client: Callable[..., TestClient],
    metrics_registry: CollectorRegistry,
) -> None:
    version = register(table_contract(), logistic_onnx, reference(20))
    client = explain_client()
    assert client.post("/explain", json={"instances": request_rows(1)}).status_code == 200
    assert client.post("/explain", json={"instances": [{}]}).status_code == 400
    assert client.post("/explain", json={"instances": request_rows(1)}).status_code == 200

    def sample(name: str, **labels: str) -> float | None:
        return metrics_registry.get_sample_value(
            name, {"model": "fair", "version": version, **labels}
        )

    assert sample("trainsmart_explain_requests_total", status="200") == 2
    assert sample("trainsmart_explain_requests_total", status="400") == 1
    assert sample("trainsmart_explain_duration_seconds_count") == 3
    assert sample("trainsmart_predictions_total", cached="false") is None  # not predictions


def test_the_openapi_document_describes_explain(
    explain_client: Callable[..., TestClient], make_bundle: Any
) -> None:
    make_bundle()
    document = explain_client().get("/openapi.json").json()
    validate(document)
    operation = document["paths"]["/explain"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]
    assert operation["security"]
    assert {"200", "400", "401", "413", "501", "503"} <= set(operation["responses"])
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "image/png"}
    assert operation["parameters"][0]["name"] == "format"


def test_shap_pulls_no_training_or_monitoring_framework_into_the_service(
    shap_installed: None,
) -> None:
    code = (
        "import sys, json, serving.explain, serving.explainers as e; e.import_shap(); "
        "print(json.dumps(sorted(m for m in ('torch', 'tensorflow', 'keras', 'evidently',"
        " 'mlflow', 'tensorboard') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
