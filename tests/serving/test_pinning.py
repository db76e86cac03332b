"""In-process tier: the candidate beside production, pinned by /v2 paths and /predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from serving.runtime import ModelHolder
from tests.conftest import BundleFactory, fair_row
from trainsmart.registry import Registry
from trainsmart.state import InputLog

V2_INPUT = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32",
                        "data": [4, 32, 9, 2, 3, 14, 3, 4]}]}  # fmt: skip


def not_onnx(path: Path, weights: np.ndarray, bias: float) -> None:
    """A bundle whose checksums are right but whose model.onnx ONNX Runtime cannot open."""
    path.write_bytes(b"this is not an ONNX model")


@pytest.fixture
def versions(make_bundle: BundleFactory, registry: Registry, holder: ModelHolder) -> list[str]:
    """v1 in production, v2 (another bias) the candidate, both loaded."""
    v1 = make_bundle(bias=-1.0)
    v2 = make_bundle(bias=1.5, promote=False)
    registry.set_candidate("fair", v2, shadow=False, reason="test")
    holder.refresh()
    return [v1, v2]


def test_v2_path_pins_the_candidate_and_logs_its_version(
    versions: list[str], client: TestClient, input_log: InputLog
) -> None:
    v1, v2 = versions
    pinned = client.post(f"/v2/models/fair/versions/{v2}/infer", json=V2_INPUT)
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["model_version"] == v2
    production = client.post("/v2/models/fair/infer", json=V2_INPUT).json()
    assert production["model_version"] == v1
    assert pinned.json()["outputs"] != production["outputs"]  # another model answered
    request_id = pinned.json()["parameters"]["request_id"]
    assert [r.version for r in input_log.request(request_id)] == [v2]
    assert client.get(f"/v2/models/fair/versions/{v2}").json()["versions"] == [v2]
    assert client.get(f"/v2/models/fair/versions/{v2}/ready").status_code == 200


def test_predict_version_field_pins_and_caches_per_version(
    versions: list[str], client: TestClient, input_log: InputLog
) -> None:
    v1, v2 = versions
    first = client.post("/predict", json={"instances": [fair_row()], "version": v2}).json()
    again = client.post("/predict", json={"instances": [fair_row()], "version": v2}).json()
    production = client.post("/predict", json={"instances": [fair_row()]}).json()
    explicit = client.post("/predict", json={"instances": [fair_row()], "version": v1}).json()
    assert [b["version"] for b in (first, again, production, explicit)] == [v2, v2, v1, v1]
    # the cache is keyed by version: the candidate's entry never answers for production
    assert [b["predictions"][0]["cached"] for b in (first, again, production, explicit)] == [
        False, True, False, True,
    ]  # fmt: skip
    p2, p1 = first["predictions"][0]["probabilities"], production["predictions"][0]["probabilities"]
    assert p2["1"] > p1["1"]
    columns = {name: [value] for name, value in fair_row().items()}
    by_columns = client.post("/predict", json={"columns": columns, "version": v2}).json()
    assert by_columns["version"] == v2
    assert input_log.count("fair", v2) == 3 and input_log.count("fair", v1) == 2


def test_other_versions_are_404_and_a_bad_version_field_is_400(
    versions: list[str], client: TestClient
) -> None:
    v1, v2 = versions
    unknown = client.post("/predict", json={"instances": [fair_row()], "version": "v9"})
    assert unknown.status_code == 404
    message = unknown.json()["error"]
    assert f"production version '{v1}' and the candidate '{v2}'" in message
    assert "trainsmart models candidate fair v9" in message
    assert client.post("/v2/models/fair/versions/v9/infer", json=V2_INPUT).status_code == 404
    for bad in (3, "", "V2", ["v2"]):
        response = client.post("/predict", json={"instances": [fair_row()], "version": bad})
        assert response.status_code == 400, bad
        assert response.json()["field"] == "version"
    null = client.post("/predict", json={"instances": [fair_row()], "version": None})  # production
    assert null.json()["version"] == v1


def test_cleared_candidate_is_unloaded_and_a_refused_one_leaves_production(
    versions: list[str],
    make_bundle: BundleFactory,
    registry: Registry,
    holder: ModelHolder,
    client: TestClient,
    metrics_registry: CollectorRegistry,
) -> None:
    v1, v2 = versions

    def info(version: str, shadow: str = "false") -> float | None:
        labels = {"model": "fair", "version": version, "shadow": shadow}
        return metrics_registry.get_sample_value("trainsmart_candidate_info", labels)

    assert info(v2) == 1.0
    registry.set_shadow("fair", True, reason="test")
    holder.refresh()
    assert (info(v2), info(v2, "true")) == (0.0, 1.0)
    registry.clear_candidate("fair", reason="test")
    assert not holder.refresh() and holder.candidate() is None
    assert info(v2, "true") == 0.0
    assert client.post(f"/v2/models/fair/versions/{v2}/infer", json=V2_INPUT).status_code == 404

    broken = make_bundle(promote=False, write_model=not_onnx)
    registry.set_candidate("fair", broken, shadow=True, reason="test")  # checksums are fine
    holder.refresh()
    assert holder.candidate() is None and holder.current().version == v1
    assert client.post("/predict", json={"instances": [fair_row()]}).json()["version"] == v1
    assert (
        client.post("/predict", json={"instances": [fair_row()], "version": broken}).status_code
        == 404
    )


def test_promoted_candidate_is_swapped_in_without_reloading(
    versions: list[str], registry: Registry, holder: ModelHolder
) -> None:
    _, v2 = versions
    candidate = holder.candidate()
    assert candidate is not None
    registry.promote("fair", v2, reason="it won")
    assert holder.refresh()
    assert holder.current() is candidate.model  # the same open session, not a second load
    assert holder.candidate() is None
