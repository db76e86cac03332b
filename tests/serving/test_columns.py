"""In-process tier: columnar /predict bodies and the request size limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apps.settings import Settings, load_settings
from serving.api import create_api
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from tests.conftest import BundleFactory, fair_row
from trainsmart.state import InputLog


def columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in rows[0]}


@pytest.fixture
def loaded(make_bundle: BundleFactory, holder: ModelHolder) -> str:
    version = make_bundle()
    assert holder.refresh()
    return version


def test_columns_are_served_like_instances(
    client: TestClient, loaded: str, input_log: InputLog
) -> None:
    rows = [fair_row(), fair_row(age=50.0), fair_row(educ=None)]
    response = client.post("/predict", json={"columns": columns(rows)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == loaded and len(body["predictions"]) == 3
    same = client.post("/predict", json={"instances": rows}).json()["predictions"]
    assert [p["cached"] for p in same] == [True, True, True]
    assert [p["class"] for p in same] == [p["class"] for p in body["predictions"]]
    logged = input_log.request(body["request_id"])
    assert [r.features["age"] for r in logged] == [32.0, 50.0, 32.0]


COLUMN_CASES: list[tuple[str, Any, str, str]] = [
    (
        "unequal lengths",
        {"columns": {**columns([fair_row(), fair_row()]), "age": [30.0]}},
        "columns.age",
        "same length",
    ),
    (
        "both instances and columns",
        {"columns": columns([fair_row()]), "instances": [fair_row()]},
        "columns",
        "not both",
    ),
    ("columns not an object", {"columns": [[1, 2]]}, "columns", "feature"),
    (
        "column not a list",
        {"columns": {**columns([fair_row()]), "educ": 12}},
        "columns.educ",
        "a list",
    ),
    (
        "missing column",
        {"columns": {k: v for k, v in columns([fair_row()]).items() if k != "children"}},
        "columns.children",
        "missing",
    ),
    (
        "unknown column",
        {"columns": {**columns([fair_row()]), "salary": [1.0]}},
        "columns.salary",
        "unknown feature",
    ),
    (
        "bad value",
        {"columns": {**columns([fair_row(), fair_row()]), "age": [30.0, "old"]}},
        "columns.age[1]",
        "finite number",
    ),
    ("no rows", {"columns": {k: [] for k in fair_row()}}, "columns", "at least one row"),
]


@pytest.mark.parametrize(
    ("case", "body", "field", "says"), COLUMN_CASES, ids=[c[0] for c in COLUMN_CASES]
)
def test_bad_columns_are_400_naming_the_field(
    client: TestClient,
    loaded: str,
    input_log: InputLog,
    case: str,
    body: Any,
    field: str,
    says: str,
) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert says in response.json()["error"]
    assert input_log.count() == 0


def test_too_many_column_rows_is_413(client: TestClient, loaded: str, settings: Settings) -> None:
    rows = [fair_row()] * (settings.serving.max_rows_per_request + 1)
    response = client.post("/predict", json={"columns": columns(rows)})
    assert response.status_code == 413
    assert response.json()["field"] == "columns"
    assert "split the batch" in response.json()["error"]


def test_body_over_the_configured_limit_is_413(
    predictor: Predictor, loaded: str, settings: Settings
) -> None:
    predictor.settings = settings.serving.model_copy(update={"max_body_bytes": 2000})
    client = TestClient(create_api(lambda: predictor))
    small = {"columns": columns([fair_row()] * 5)}
    assert len(json.dumps(small)) < 2000
    assert client.post("/predict", json=small).status_code == 200
    big = {"columns": columns([fair_row()] * 100)}
    assert len(json.dumps(big)) > 2000
    for path in ("/predict", "/v2/models/fair/infer"):
        response = client.post(path, json=big)
        assert response.status_code == 413, path
        assert "2000-byte limit" in response.json()["error"]
        assert response.json()["field"] == "body"


def test_max_body_bytes_is_a_setting(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:

    assert settings.serving.max_body_bytes == 8 * 1024 * 1024
    monkeypatch.setenv("TRAINSMART_SERVING__MAX_BODY_BYTES", "1024")
    assert load_settings().serving.max_body_bytes == 1024
