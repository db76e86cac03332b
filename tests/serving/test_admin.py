"""In-process tier: the admin routes write the registry, refresh the worker, and answer
its status; bad bodies name their field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apps.settings import Settings, load_settings
from serving.shadow import ShadowMirror
from tests.conftest import BundleFactory, fair_row
from tests.serving.test_pinning import V2_INPUT, not_onnx
from trainsmart.registry import Registry
from trainsmart.state import ShadowLog

ADMIN = "admin-token-for-tests-3c2b1a"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Overrides the shared fixture: admin routes enabled."""
    return load_settings(
        data_dir=tmp_path / "data", model_name="fair", serving={"admin_token": ADMIN}
    )


@pytest.fixture
def versions(make_bundle: BundleFactory, client: TestClient) -> list[str]:
    """v1 in production (loaded through /admin/reload), v2 and v3 registered."""
    v1 = make_bundle(bias=-1.0)
    reloaded = client.post("/admin/reload", headers=AUTH)
    assert reloaded.status_code == 200 and reloaded.json()["production"] == v1
    return [v1, make_bundle(bias=1.0, promote=False), make_bundle(bias=2.0, promote=False)]


def put_candidate(client: TestClient, body: Any) -> Any:
    return client.put("/admin/candidate", json=body, headers=AUTH)


def test_candidate_and_shadow_through_the_admin_api(
    versions: list[str],
    client: TestClient,
    registry: Registry,
    mirror: ShadowMirror,
    shadow_log: ShadowLog,
) -> None:
    v1, v2, v3 = versions
    status = client.get("/admin/status", headers=AUTH).json()
    assert status["production"] == v1 and status["candidate"] is None
    assert status["shadow"] is False and status["shadow_queue_capacity"] == 1000

    response = put_candidate(client, {"version": v2, "shadow": True, "reason": "canary"})
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["candidate"] == {"version": v2, "shadow": True} == status["registry_candidate"]
    assert status["shadow"] is True
    entry = registry.audit("fair")[0]
    assert (entry.action, entry.to_version, entry.actor) == ("candidate", v2, "admin-api")
    assert entry.reason == "canary (shadow on)"
    pinned = client.post(f"/v2/models/fair/versions/{v2}/infer", json=V2_INPUT)
    assert pinned.json()["model_version"] == v2
    client.post("/predict", json={"instances": [fair_row(), fair_row(age=40.0)]})
    assert mirror.drain(5) and shadow_log.count("fair", v2) == 2
    assert client.get("/admin/status", headers=AUTH).json()["shadow_rows"]["ok"] == 2

    off = client.put("/admin/shadow", json={"enabled": False}, headers=AUTH).json()
    assert off["candidate"] == {"version": v2, "shadow": False} and off["shadow"] is False
    assert registry.audit("fair")[0].action == "shadow-off"
    switched = put_candidate(client, {"version": v3}).json()  # shadow defaults to off
    assert switched["candidate"] == {"version": v3, "shadow": False}
    assert client.post(f"/v2/models/fair/versions/{v2}/infer", json=V2_INPUT).status_code == 404

    cleared = client.delete("/admin/candidate", headers=AUTH).json()
    assert cleared["candidate"] is None and cleared["registry_candidate"] is None
    assert registry.audit("fair")[0].action == "candidate-clear"
    assert client.delete("/admin/candidate", headers=AUTH).status_code == 200  # idempotent
    no_candidate = client.put("/admin/shadow", json={"enabled": True}, headers=AUTH)
    assert no_candidate.status_code == 409
    assert "no candidate to shadow; set one first" in no_candidate.json()["error"]


def test_reload_follows_a_promotion_made_elsewhere(
    versions: list[str], client: TestClient, registry: Registry
) -> None:
    v1, v2, _ = versions
    registry.promote("fair", v2, reason="from the CLI")
    assert client.post("/predict", json={"instances": [fair_row()]}).json()["version"] == v1
    reloaded = client.post("/admin/reload", headers=AUTH).json()
    assert reloaded["production"] == reloaded["registry_production"] == v2
    assert client.post("/predict", json={"instances": [fair_row()]}).json()["version"] == v2


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "version", "required"),
        ({"version": 2}, "version", "valid string"),
        ({"version": "V2"}, "version", "lowercase"),
        ({"version": "v2", "shadow": "yes"}, "shadow", "valid boolean"),
        ({"version": "v2", "shadows": True}, "shadows", "unknown"),
        (["v2"], "body", "an object"),
    ],
)
def test_bad_candidate_bodies_name_the_field(
    versions: list[str], client: TestClient, body: Any, field: str, words: str
) -> None:
    response = put_candidate(client, body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and words in response.json()["error"]


def test_candidate_refusals(
    versions: list[str], client: TestClient, make_bundle: BundleFactory, registry: Registry
) -> None:
    v1 = versions[0]
    unknown = put_candidate(client, {"version": "v99"})
    assert unknown.status_code == 404 and "'trainsmart models list'" in unknown.json()["error"]
    production = put_candidate(client, {"version": v1})
    assert production.status_code == 409 and "a candidate must be another" in production.text
    broken = make_bundle(promote=False, write_model=not_onnx)
    refused = put_candidate(client, {"version": broken, "shadow": True})
    assert refused.status_code == 409 and "ONNX Runtime cannot load" in refused.json()["error"]
    assert registry.candidate("fair") is None  # the pointer never moved
    assert client.put("/admin/shadow", json={"enabled": 1}, headers=AUTH).json()["field"] == (
        "enabled"
    )
    text = client.put("/admin/candidate", content=b"v2", headers={**AUTH, "content-type": "text"})
    assert text.status_code == 415


def test_openapi_documents_the_admin_bodies(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    body = paths["/admin/candidate"]["put"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"version", "shadow", "reason"}
    assert body["schema"]["required"] == ["version"]
    shadow = paths["/admin/shadow"]["put"]["requestBody"]["content"]["application/json"]
    assert shadow["schema"]["required"] == ["enabled"]
    answer = paths["/admin/status"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].endswith("/AdminStatus")
    assert "requestBody" not in paths["/admin/reload"]["post"]
    assert {"400", "404", "409"} <= set(paths["/admin/candidate"]["put"]["responses"])
