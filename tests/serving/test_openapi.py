"""The OpenAPI document the service publishes is valid OpenAPI 3 and describes every
route with its request body, its answer and its errors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from openapi_spec_validator import validate


def _document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_the_document_is_valid_openapi(client: TestClient) -> None:
    validate(_document(client))


def test_every_post_and_put_route_documents_its_body_answer_and_errors(client: TestClient) -> None:
    paths = _document(client)["paths"]
    expected = {
        "/predict",
        "/feedback",
        "/explain",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/admin/reload",
        "/admin/candidate",
        "/admin/shadow",
    }
    assert expected <= set(paths), sorted(paths)
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "200" in responses, (method, path)
            if method in ("post", "put") and path != "/admin/reload":
                assert "requestBody" in operation, (method, path)
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                assert body, (method, path)
            if method in ("post", "put", "delete"):
                errors = {code for code in responses if code.startswith("4")}
                assert {"400", "401"} <= errors or path.startswith("/admin"), (path, errors)


def test_protected_routes_declare_their_security(client: TestClient) -> None:
    document = _document(client)
    schemes = document["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"http", "apiKey"}
    assert document["paths"]["/predict"]["post"]["security"]
    assert document["paths"]["/admin/reload"]["post"]["security"]
    assert "security" not in document["paths"]["/v2/health/ready"]["get"]
