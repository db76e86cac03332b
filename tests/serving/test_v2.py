"""In-process tier: the Open Inference Protocol v2 routes on the real app."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.runtime import ModelHolder
from tests.conftest import FAIR_CATEGORICAL, FAIR_NUMERIC, BundleFactory, fair_row
from trainsmart.state import InputLog

FEATURES = FAIR_NUMERIC + FAIR_CATEGORICAL
INFER = "/v2/models/fair/infer"


def matrix_input(rows: list[dict[str, Any]], datatype: str = "FP32") -> dict[str, Any]:
    """One [n, 8] tensor, nested data."""
    return {
        "name": "input",
        "shape": [len(rows), len(FEATURES)],
        "datatype": datatype,
        "data": [[row[f] for f in FEATURES] for row in rows],
    }


def feature_inputs(rows: list[dict[str, Any]], nested: bool = False) -> list[dict[str, Any]]:
    """One tensor per feature: shape [n] with flat data, or [n, 1] with nested data."""
    tensors = []
    for f in FEATURES:
        values = [row[f] for row in rows]
        tensors.append(
            {
                "name": f,
                "shape": [len(rows), 1] if nested else [len(rows)],
                "datatype": "INT64" if f in FAIR_CATEGORICAL else "FP64",
                "data": [[v] for v in values] if nested else values,
            }
        )
    return tensors


@pytest.fixture
def loaded(make_bundle: BundleFactory, holder: ModelHolder) -> str:
    version = make_bundle()
    assert holder.refresh()
    return version


def test_server_metadata_and_liveness(client: TestClient) -> None:
    meta = client.get("/v2").json()
    assert meta["name"] == "trainsmart" and meta["version"] and meta["extensions"] == []
    assert client.get("/v2/health/live").json() == {"live": True}


def test_ready_only_once_a_model_is_loaded(
    client: TestClient, make_bundle: BundleFactory, holder: ModelHolder
) -> None:
    before = client.get("/v2/health/ready")
    assert before.status_code == 503 and before.json()["ready"] is False
    assert "trainsmart train" in before.json()["error"]
    assert client.get("/v2/models/fair/ready").status_code == 503
    assert client.get("/v2/models/fair").status_code == 503
    version = make_bundle()
    holder.refresh()
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/fair/ready").status_code == 200
    assert client.get(f"/v2/models/fair/versions/{version}/ready").status_code == 200


def test_model_metadata(client: TestClient, loaded: str) -> None:
    for path in ("/v2/models/fair", f"/v2/models/fair/versions/{loaded}"):
        meta = client.get(path).json()
        assert meta["name"] == "fair" and meta["versions"] == [loaded]
        assert meta["platform"] == "onnxruntime_onnx"
        assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 8]}]
        assert meta["outputs"] == [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
            {"name": "class", "datatype": "BYTES", "shape": [-1]},
        ]
        assert meta["parameters"]["features"] == FEATURES


def test_infer_with_one_matrix_tensor_matches_predict(
    client: TestClient, loaded: str, input_log: InputLog
) -> None:
    rows = [fair_row(), fair_row(age=50.0), fair_row(occupation=6)]
    response = client.post(INFER, json={"id": "abc", "inputs": [matrix_input(rows)]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("fair", loaded, "abc")
    outputs = {o["name"]: o for o in body["outputs"]}
    probs = outputs["probabilities"]
    assert probs["datatype"] == "FP32" and probs["shape"] == [3, 2]
    matrix = np.array(probs["data"]).reshape(3, 2)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-5)
    assert outputs["class"]["datatype"] == "BYTES" and outputs["class"]["shape"] == [3]
    predicted = client.post("/predict", json={"instances": rows}).json()["predictions"]
    for i, pred in enumerate(predicted):
        assert pred["cached"] is True  # the same rows, the same cache key
        assert outputs["class"]["data"][i] == pred["class"]
        assert math.isclose(matrix[i, 1], pred["probabilities"]["1"], rel_tol=1e-6)
    logged = input_log.request(body["parameters"]["request_id"])
    assert [r.features["age"] for r in logged] == [32.0, 50.0, 32.0]
    assert [r.prediction["class"] for r in logged] == outputs["class"]["data"]


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_infer_with_one_tensor_per_feature(
    client: TestClient, loaded: str, input_log: InputLog, nested: bool
) -> None:
    rows = [fair_row(), fair_row(educ=20.0)]
    response = client.post(f"/v2/models/fair/versions/{loaded}/infer", json={
        "inputs": feature_inputs(rows, nested), "parameters": {"whatever": 1},
    })  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == body["parameters"]["request_id"]
    assert input_log.count("fair", loaded) == 2
    assert [r.features["educ"] for r in input_log.request(body["id"])] == [14.0, 20.0]


def test_flat_matrix_data_and_integer_datatype(client: TestClient, loaded: str) -> None:
    rows = [fair_row(age=30, educ=12), fair_row(age=40, educ=16)]
    tensor = matrix_input(rows, "INT32")
    tensor["data"] = [int(v) for row in tensor["data"] for v in row]
    response = client.post(INFER, json={"inputs": [tensor]})
    assert response.status_code == 200, response.text


def test_outputs_selection(client: TestClient, loaded: str) -> None:
    body = {"inputs": [matrix_input([fair_row()])], "outputs": [{"name": "class"}]}
    outputs = client.post(INFER, json=body).json()["outputs"]
    assert [o["name"] for o in outputs] == ["class"]
    body["outputs"] = [{"name": "logits"}]
    bad = client.post(INFER, json=body)
    assert bad.status_code == 400 and bad.json()["field"] == "outputs[0].name"


def _bad(**changes: Any) -> dict[str, Any]:
    tensor = {**matrix_input([fair_row(), fair_row()]), **changes}
    return {"inputs": [tensor]}


BAD_CASES: list[tuple[str, Any, str]] = [
    ("data shorter than shape", _bad(data=[1.0] * 15), "inputs.input.data"),
    ("wrong width", _bad(shape=[2, 7]), "inputs.input.shape"),
    ("rank 1", _bad(shape=[16]), "inputs.input.shape"),
    ("bool datatype", _bad(datatype="BOOL"), "inputs.input.datatype"),
    ("unknown datatype", _bad(datatype="FLOAT"), "inputs.input.datatype"),
    ("string in FP32", _bad(data=["x"] * 16), "inputs.input.data[0]"),
    ("float in INT64", _bad(datatype="INT64", data=[1.5] * 16), "inputs.input.data[0]"),
    ("beyond float32", _bad(data=[1e39] * 16), "inputs.input[0].rate_marriage"),
    ("null not allowed", _bad(data=[4.0, None] + [1.0] * 14), "inputs.input[0].age"),
    ("negative dim", _bad(shape=[-2, 8]), "inputs[0].shape[0]"),
    ("no inputs", {"inputs": []}, "inputs"),
    ("unknown top-level field", {**_bad(), "input": []}, "input"),
    ("body not an object", [1, 2], "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_tensors_are_400_naming_the_input(
    client: TestClient, loaded: str, input_log: InputLog, case: str, body: Any, field: str
) -> None:
    response = client.post(INFER, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert set(response.json()) == {"error", "field"}
    assert input_log.count() == 0


def test_per_feature_tensor_mismatches(client: TestClient, loaded: str) -> None:
    tensors = feature_inputs([fair_row(), fair_row()])
    tensors[1]["shape"] = [3]
    bad = client.post(INFER, json={"inputs": tensors})
    assert bad.status_code == 400 and bad.json()["field"] == "inputs.age.shape"
    tensors = feature_inputs([fair_row(), fair_row()])
    tensors[2]["data"] = [1.0]
    bad = client.post(INFER, json={"inputs": tensors})
    assert bad.status_code == 400 and bad.json()["field"] == "inputs.yrs_married.data"
    assert "needs 2 values, got 1" in bad.json()["error"]
    missing = client.post(INFER, json={"inputs": tensors[:-1]})
    assert missing.status_code == 400 and missing.json()["field"] == "inputs.occupation_husb"
    strings = feature_inputs([fair_row()])
    strings[1].update(datatype="BYTES", data=["old"])
    bad = client.post(INFER, json={"inputs": strings})
    assert bad.status_code == 400 and bad.json()["field"] == "inputs.age.datatype"


def test_unknown_model_other_version_and_unsafe_names(client: TestClient, loaded: str) -> None:
    unknown = client.post("/v2/models/other/infer", json=_bad())
    assert unknown.status_code == 404 and "serves only 'fair'" in unknown.json()["error"]
    assert client.get("/v2/models/other").status_code == 404
    assert client.get("/v2/models/other/ready").status_code == 404
    other = client.post("/v2/models/fair/versions/v999/infer", json=_bad())
    assert other.status_code == 404
    assert f"the production version '{loaded}' (no candidate is set)" in other.json()["error"]
    assert "trainsmart models candidate fair v999" in other.json()["error"]
    assert client.get("/v2/models/fair/versions/v999").status_code == 404
    traversal = client.post("/v2/models/%2E%2E/infer", json=_bad())
    assert traversal.status_code == 400 and traversal.json()["field"] == "model_name"
    upper = client.get("/v2/models/fair/versions/V..1/ready")
    assert upper.status_code == 400 and upper.json()["field"] == "model_version"
    assert client.get("/v2/nothing").json() == {"error": "Not Found"}


def test_media_types_and_binary_extension(client: TestClient, loaded: str) -> None:
    raw = '{"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [1,2,3,4,5,6,1,2]}]}'  # noqa: E501
    untyped = client.post(INFER, content=raw, headers={"content-type": ""})
    assert untyped.status_code == 200, untyped.text  # tritonclient sends no content-type
    text = client.post(INFER, content=raw, headers={"content-type": "text/plain"})
    assert text.status_code == 415
    binary = client.post(INFER, json=_bad(), headers={"Inference-Header-Content-Length": "10"})
    assert binary.status_code == 415 and "binary_data=False" in binary.json()["error"]


def test_no_model_is_503_and_requests_are_timed(
    client: TestClient, metrics_registry: CollectorRegistry
) -> None:
    response = client.post(INFER, json=_bad())
    assert response.status_code == 503 and "error" in response.json()
    sample = metrics_registry.get_sample_value(
        "trainsmart_request_duration_seconds_count", {"endpoint": "v2_infer", "status": "503"}
    )
    assert sample == 1.0


def test_openapi_documents_the_v2_routes(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for path in (
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/versions/{version}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    ):
        assert path in paths, path
    infer = paths["/v2/models/{name}/versions/{version}/infer"]["post"]
    body = infer["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"id", "parameters", "inputs", "outputs"}
    assert (
        "InferenceResponse"
        in infer["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    )
    assert {p["name"] for p in infer["parameters"]} == {"name", "version"}
    assert set(infer["responses"]) >= {"200", "400", "404", "413", "503"}
    predict = paths["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(predict["properties"]) == {"instances", "columns", "version"}


def test_too_many_rows_is_413(client: TestClient, loaded: str, settings: Settings) -> None:
    rows = [fair_row()] * (settings.serving.max_rows_per_request + 1)
    response = client.post(INFER, json={"inputs": [matrix_input(rows)]})
    assert response.status_code == 413
    assert response.json()["field"] == "inputs" and "split the batch" in response.json()["error"]
