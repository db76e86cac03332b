"""In-process tier: the FastAPI app with real registry, ONNX Runtime, cache and input log."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.api import create_api
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from tests.conftest import BundleFactory, fair_row
from trainsmart.registry import Registry
from trainsmart.state import InputLog, SqliteDatabase, open_database


def test_predict_answers_each_row_with_version_and_logs_it(
    make_bundle: BundleFactory, holder: ModelHolder, client: TestClient, input_log: InputLog
) -> None:
    version = make_bundle()
    assert holder.refresh()
    response = client.post("/predict", json={"instances": [fair_row(), fair_row(age=50.0)]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "fair" and body["version"] == version
    assert len(body["predictions"]) == 2
    for pred in body["predictions"]:
        assert pred["class"] in ("0", "1")
        assert math.isclose(sum(pred["probabilities"].values()), 1.0, rel_tol=1e-5)
    logged = input_log.request(body["request_id"])
    assert [r.row_index for r in logged] == [0, 1]
    assert logged[1].features["age"] == 50.0
    assert logged[0].prediction["class"] == body["predictions"][0]["class"]


def test_cache_hit_is_still_logged(
    make_bundle: BundleFactory,
    holder: ModelHolder,
    client: TestClient,
    input_log: InputLog,
    metrics_registry: CollectorRegistry,
) -> None:
    make_bundle()
    holder.refresh()
    first = client.post("/predict", json={"instances": [fair_row()]}).json()
    # same row, other field order and number spelling: same canonical key
    reordered = dict(reversed(list(fair_row(age=32).items())))
    second = client.post("/predict", json={"instances": [reordered]}).json()
    assert first["predictions"][0]["cached"] is False
    assert second["predictions"][0]["cached"] is True
    assert second["predictions"][0]["probabilities"] == first["predictions"][0]["probabilities"]
    assert [r.cache_hit for r in input_log.request(second["request_id"])] == [True]
    assert input_log.count("fair") == 2
    assert (
        metrics_registry.get_sample_value("trainsmart_cache_requests_total", {"result": "hit"})
        == 1.0
    )


BAD_CASES: list[tuple[str, Any, int, str]] = [
    ("string for number", {"instances": [fair_row(age="old")]}, 400, "instances[0].age"),
    (
        "missing field",
        {"instances": [{k: v for k, v in fair_row().items() if k != "educ"}]},
        400,
        "instances[0].educ",
    ),
    ("extra field", {"instances": [fair_row(salary=3.0)]}, 400, "instances[0].salary"),
    ("null not allowed", {"instances": [fair_row(age=None)]}, 400, "instances[0].age"),
    ("boolean", {"instances": [fair_row(children=True)]}, 400, "instances[0].children"),
    ("empty batch", {"instances": []}, 400, "instances"),
    ("instances not a list", {"instances": {"age": 3}}, 400, "instances"),
    ("row not an object", {"instances": [[1, 2, 3]]}, 400, "instances[0]"),
    ("missing instances", {"rows": []}, 400, "rows"),
    ("body not an object", [fair_row()], 400, "body"),
    ("beyond float32", {"instances": [fair_row(educ=1e39)]}, 400, "instances[0].educ"),
    ("int too big for a float", {"instances": [fair_row(age=10**400)]}, 400, "instances[0].age"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "field"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_input_gets_4xx_naming_the_field(
    make_bundle: BundleFactory,
    holder: ModelHolder,
    client: TestClient,
    input_log: InputLog,
    case: str,
    body: Any,
    status: int,
    field: str,
) -> None:
    make_bundle()
    holder.refresh()
    response = client.post("/predict", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert field.split(".")[-1] in response.json()["error"]
    assert input_log.count() == 0
    assert client.post("/predict", json={"instances": [fair_row()]}).status_code == 200


@pytest.mark.parametrize("spelling", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(
    make_bundle: BundleFactory,
    holder: ModelHolder,
    client: TestClient,
    input_log: InputLog,
    spelling: str,
) -> None:
    make_bundle()
    holder.refresh()
    raw = (
        f'{{"instances": [{{"rate_marriage": {spelling}, "age": 30, "yrs_married": 2,'
        ' "children": 0, "religious": 2, "educ": 12, "occupation": 2, "occupation_husb": 3}]}'
    )
    response = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["field"] == "instances[0].rate_marriage"
    assert "finite number" in response.json()["error"]
    assert input_log.count() == 0
    assert client.post("/predict", json={"instances": [fair_row()]}).status_code == 200


def test_malformed_json_and_wrong_content_type(
    make_bundle: BundleFactory, holder: ModelHolder, client: TestClient
) -> None:
    make_bundle()
    holder.refresh()
    bad = client.post("/predict", content="{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["field"] == "body"
    text = client.post("/predict", content="a=1", headers={"content-type": "text/plain"})
    assert text.status_code == 415 and text.json()["field"] == "content-type"


def test_too_many_rows_is_413(
    make_bundle: BundleFactory, holder: ModelHolder, client: TestClient, settings: Settings
) -> None:
    make_bundle()
    holder.refresh()
    rows = [fair_row()] * (settings.serving.max_rows_per_request + 1)
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 413
    assert "split the batch" in response.json()["error"]


def test_no_model_is_503(client: TestClient) -> None:
    response = client.post("/predict", json={"instances": [fair_row()]})
    assert response.status_code == 503
    assert "trainsmart train" in response.json()["error"]


def test_feedback_records_label_and_refuses_bad_ones(
    make_bundle: BundleFactory, holder: ModelHolder, client: TestClient, input_log: InputLog
) -> None:
    make_bundle()
    holder.refresh()
    request_id = client.post("/predict", json={"instances": [fair_row(), fair_row()]}).json()[
        "request_id"
    ]
    ok = client.post("/feedback", json={"request_id": request_id, "label": 1, "row_index": 1})
    assert ok.status_code == 200, ok.text
    assert [r.label for r in input_log.labelled("fair", 10)] == ["1"]
    unknown = client.post("/feedback", json={"request_id": "nope", "label": "1"})
    assert unknown.status_code == 404
    bad_label = client.post("/feedback", json={"request_id": request_id, "label": "7"})
    assert bad_label.status_code == 400 and bad_label.json()["field"] == "label"
    bad_row = client.post(
        "/feedback", json={"request_id": request_id, "label": "1", "row_index": 5}
    )
    assert bad_row.status_code == 404


def test_hot_swap_names_the_new_version(
    make_bundle: BundleFactory, holder: ModelHolder, client: TestClient, registry: Registry
) -> None:
    v1 = make_bundle(bias=-3.0)
    holder.refresh()
    assert client.post("/predict", json={"instances": [fair_row()]}).json()["version"] == v1
    v2 = make_bundle(bias=3.0)
    assert registry.production("fair") == v2
    assert holder.refresh()
    after = client.post("/predict", json={"instances": [fair_row()]}).json()
    assert after["version"] == v2
    assert after["predictions"][0]["cached"] is False  # the cache key includes the version
    registry.rollback("fair", reason="test")
    assert holder.refresh()
    assert client.post("/predict", json={"instances": [fair_row()]}).json()["version"] == v1


def test_corrupt_bundle_is_refused_and_champion_keeps_serving(
    make_bundle: BundleFactory, holder: ModelHolder, client: TestClient, registry: Registry
) -> None:
    v1 = make_bundle()
    holder.refresh()
    v2 = make_bundle(promote=False)
    model_file = registry.get("fair", v2).model_path
    model_file.write_bytes(model_file.read_bytes()[:100])
    registry.db.connection().execute(
        "INSERT INTO production (model, position, version) VALUES ('fair', 99, ?)", (v2,)
    )
    assert not holder.refresh()
    assert client.post("/predict", json={"instances": [fair_row()]}).json()["version"] == v1


@pytest.mark.sqlite  # holds SQLite's write lock to make the log unwritable
def test_unwritable_input_log_is_503_and_nothing_half_written(
    make_bundle: BundleFactory,
    holder: ModelHolder,
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
) -> None:
    make_bundle()
    holder.refresh()
    impatient = InputLog(SqliteDatabase(settings.paths.state_db, busy_timeout_s=0.1))
    predictor = Predictor(
        holder, None, impatient, ServingMetrics(CollectorRegistry()), settings.serving, registry
    )
    client = TestClient(create_api(lambda: predictor))
    assert client.post("/predict", json={"instances": [fair_row()]}).status_code == 200
    other_process = open_database(settings).connection()
    other_process.execute("BEGIN IMMEDIATE")  # someone else holds the write lock
    try:
        response = client.post("/predict", json={"instances": [fair_row(), fair_row(age=40)]})
    finally:
        other_process.execute("ROLLBACK")
    assert response.status_code == 503
    assert "input log" in response.json()["error"]
    assert input_log.count("fair") == 1
    assert client.post("/predict", json={"instances": [fair_row()]}).status_code == 200
    assert input_log.count("fair") == 2


def test_swap_updates_model_info_without_waiting_for_traffic(
    make_bundle: BundleFactory, registry: Registry, settings: Settings
) -> None:
    metrics_registry = CollectorRegistry()
    metrics = ServingMetrics(metrics_registry)
    holder = ModelHolder(
        registry, "fair", settings.serving, on_swap=lambda m: metrics.serving(m.name, m.version)
    )
    v1 = make_bundle()
    holder.refresh()
    v2 = make_bundle()
    holder.refresh()

    def info(version: str) -> float | None:
        return metrics_registry.get_sample_value(
            "trainsmart_model_info", {"model": "fair", "version": version}
        )

    assert (info(v1), info(v2)) == (0.0, 1.0)
    assert metrics_registry.get_sample_value("trainsmart_model_swaps_total", {"model": "fair"}) == 1


def test_unexpected_error_is_json_500_and_counted(
    make_bundle: BundleFactory,
    holder: ModelHolder,
    client: TestClient,
    metrics_registry: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_bundle()
    holder.refresh()

    def boom(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(Predictor, "_predict_rows", boom)
    failing = TestClient(client.app, raise_server_exceptions=False)
    response = failing.post("/predict", json={"instances": [fair_row()]})
    assert response.status_code == 500
    assert "internal error (RuntimeError)" in response.json()["error"]
    assert (
        metrics_registry.get_sample_value(
            "trainsmart_request_duration_seconds_count", {"endpoint": "predict", "status": "500"}
        )
        == 1.0
    )
