"""In-process tier: API keys on the prediction routes, the admin token, and what the OpenAPI
document says about them. Tokens must never reach a log line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import Settings, load_settings
from serving.api import create_api
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from serving.settings import ServingSettings
from tests.conftest import BundleFactory, fair_row
from trainsmart.registry import Registry
from trainsmart.state import InputLog

ADMIN = "admin-5f1e0c9d7b2a4e3f8a6d"
KEYS = ["key-alpha-0b8c2d4e6f", "key-beta-9a7b5c3d1e"]
V2_INPUT = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32",
                        "data": [4, 32, 9, 2, 3, 14, 3, 4]}]}  # fmt: skip
PROTECTED = [
    ("/predict", {"instances": [fair_row()]}),
    ("/v2/models/fair/infer", V2_INPUT),
    ("/feedback", {"request_id": "nope", "label": "1"}),
]
WRONG_HEADERS: list[dict[str, str]] = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": KEYS[0]},  # no scheme
    {"Authorization": f"Basic {KEYS[0]}"},  # wrong scheme
    {"Authorization": f"Token {KEYS[0]}"},
    {"Authorization": "Bearer key-alpha"},  # a prefix of a key
    {"Authorization": f"Bearer {KEYS[0]}x"},
    {"X-API-Key": ""},
    {"X-API-Key": f"Bearer {KEYS[0]}"},  # X-API-Key takes the bare key
    {"X-API-Key": KEYS[0].upper()},
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Overrides the shared fixture: this module's service has keys and an admin token."""
    return load_settings(
        data_dir=tmp_path / "data",
        model_name="fair",
        serving={"admin_token": ADMIN, "api_keys": KEYS},
    )


@pytest.fixture
def loaded(make_bundle: BundleFactory, holder: ModelHolder) -> str:
    version = make_bundle()
    holder.refresh()
    return version


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "unauthorized"}
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [*WRONG_HEADERS, {"Authorization": f"Bearer {ADMIN}"}],  # the admin token is no API key
    ids=repr,
)
def test_prediction_routes_need_a_key(
    loaded: str, client: TestClient, input_log: InputLog, headers: dict[str, str]
) -> None:
    for path, body in PROTECTED:
        assert_unauthorized(client.post(path, json=body, headers=headers))
    assert input_log.count() == 0


def test_either_header_with_any_key_is_accepted(loaded: str, client: TestClient) -> None:
    for headers in (
        {"Authorization": f"Bearer {KEYS[0]}"},
        {"Authorization": f"bearer {KEYS[1]}"},  # the scheme is case-insensitive
        {"X-API-Key": KEYS[1]},
        {"Authorization": "Bearer wrong", "X-API-Key": KEYS[0]},
    ):
        predicted = client.post("/predict", json={"instances": [fair_row()]}, headers=headers)
        assert predicted.status_code == 200, (headers, predicted.text)
        assert client.post("/v2/models/fair/infer", json=V2_INPUT, headers=headers).is_success
        feedback = {"request_id": predicted.json()["request_id"], "label": "1"}
        assert client.post("/feedback", json=feedback, headers=headers).status_code == 200


def test_health_and_metadata_stay_open(loaded: str, client: TestClient) -> None:
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/fair",
                 f"/v2/models/fair/versions/{loaded}/ready", "/openapi.json"):  # fmt: skip
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    "headers",
    [*WRONG_HEADERS, {"Authorization": f"Bearer {KEYS[0]}"}, {"X-API-Key": ADMIN}],
    ids=repr,
)
def test_admin_routes_need_the_admin_token(
    loaded: str, client: TestClient, headers: dict[str, str]
) -> None:
    assert_unauthorized(client.get("/admin/status", headers=headers))
    assert_unauthorized(client.post("/admin/reload", headers=headers))
    assert_unauthorized(client.delete("/admin/candidate", headers=headers))
    # the guard runs before the body is read: no hint about what a valid body looks like
    assert_unauthorized(client.put("/admin/candidate", json={"bad": 1}, headers=headers))
    assert_unauthorized(client.put("/admin/shadow", content=b"{", headers=headers))


def test_admin_routes_are_403_while_no_token_is_set(
    loaded: str, holder: ModelHolder, input_log: InputLog, registry: Registry
) -> None:
    open_settings = ServingSettings(admin_token="")  # empty means unset
    assert open_settings.admin_token is None
    predictor = Predictor(
        holder, None, input_log, ServingMetrics(CollectorRegistry()), open_settings, registry
    )
    client = TestClient(create_api(lambda: predictor))
    disabled = {"error": "admin endpoints are disabled; set serving.admin_token"}
    for headers in ({}, {"Authorization": f"Bearer {ADMIN}"}):
        response = client.get("/admin/status", headers=headers)
        assert (response.status_code, response.json()) == (403, disabled)
        assert client.put("/admin/shadow", json={"enabled": True}).status_code == 403
    assert client.post("/predict", json={"instances": [fair_row()]}).status_code == 200  # no keys


def test_tokens_never_reach_the_logs(
    loaded: str, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with caplog.at_level(logging.DEBUG):
        for headers in ({"Authorization": f"Bearer {KEYS[0]}"}, {"X-API-Key": KEYS[1]}):
            client.post("/predict", json={"instances": [fair_row()]}, headers=headers)
            client.post("/predict", json={"instances": [{"age": "x"}]}, headers=headers)
        client.post("/predict", json={}, headers={"Authorization": f"Bearer {ADMIN}"})
        client.get("/admin/status", headers=admin)
        client.put("/admin/candidate", json={"version": "v9"}, headers=admin)
        client.put("/admin/candidate", json={"version": "v1"}, headers=admin)
        client.post("/admin/reload", headers={"Authorization": f"Bearer {KEYS[0]}"})
    assert caplog.records, "expected some log lines to search"
    for secret in (ADMIN, *KEYS):
        assert secret not in caplog.text
    assert ADMIN not in repr(client.app) and ADMIN not in repr(load_settings(
        serving={"admin_token": ADMIN}))  # fmt: skip


def test_openapi_declares_the_security_schemes(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["AdminBearer"] == {
        "type": "http", "scheme": "bearer", "description": schemes["AdminBearer"]["description"],
    }  # fmt: skip
    assert schemes["ApiKeyBearer"]["scheme"] == "bearer"
    assert schemes["ApiKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": schemes["ApiKeyHeader"]["description"],
    }  # fmt: skip
    paths = doc["paths"]
    optional_key: list[dict[str, list[str]]] = [{"ApiKeyBearer": []}, {"ApiKeyHeader": []}, {}]
    for path in ("/predict", "/feedback", "/v2/models/{name}/infer",
                 "/v2/models/{name}/versions/{version}/infer"):  # fmt: skip
        operation = paths[path]["post"]
        assert operation["security"] == optional_key, path
        assert "401" in operation["responses"], path
    for path, methods in {
        "/admin/reload": ["post"],
        "/admin/candidate": ["put", "delete"],
        "/admin/shadow": ["put"],
        "/admin/status": ["get"],
    }.items():
        for method in methods:
            operation = paths[path][method]
            assert operation["security"] == [{"AdminBearer": []}], (path, method)
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
    for path in ("/v2", "/v2/health/ready", "/v2/models/{name}"):
        assert "security" not in paths[path]["get"], path
