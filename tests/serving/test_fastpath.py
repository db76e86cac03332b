"""The fast path: hot routes reach our app past BentoML's middleware, with the same answers.

In-process tier (the dispatcher, the direct app beside the FastAPI app on the same
predictor, the install on a real ``@bentoml.service``) and one real-server test that
shows BentoML's middleware no longer sees /predict while every other route still goes
through it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import bentoml
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from apps.launch import free_port, start_service, wait_http
from apps.settings import Settings
from serving.api import create_api, create_direct
from serving.fastpath import FastPath, hot_route, install, supported
from serving.predictor import Predictor
from tests.conftest import BundleFactory, fair_row
from tests.serving.test_server import service_env


@pytest.mark.parametrize(
    ("method", "path", "hot"),
    [
        ("POST", "/predict", True),
        ("POST", "/feedback", True),
        ("POST", "/v2/models/fair/infer", True),
        ("POST", "/v2/models/fair/versions/v2/infer", True),
        ("GET", "/predict", False),
        ("GET", "/v2/models/fair", False),
        ("POST", "/admin/candidate", False),
        ("GET", "/metrics", False),
        ("GET", "/readyz", False),
        ("POST", "/predict/", False),
    ],
)
def test_hot_routes_are_the_prediction_and_feedback_posts(
    method: str, path: str, hot: bool
) -> None:
    assert hot_route(method, path) is hot


class Recorder:
    """A tiny ASGI app that notes the scopes it gets and answers 204."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append((scope["type"], scope.get("path", "")))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})


async def _call(app: FastPath, scope: dict[str, Any]) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    await app(scope, receive, send)


@pytest.mark.anyio
async def test_the_dispatcher_sends_only_hot_routes_past_bentoml() -> None:
    full, direct = Recorder(), Recorder()
    app = FastPath(full, direct)
    for method, path in [("POST", "/predict"), ("GET", "/metrics"), ("POST", "/admin/x")]:
        await _call(app, {"type": "http", "method": method, "path": path, "headers": []})
    await _call(app, {"type": "lifespan"})  # the lifespan builds the service: BentoML's
    assert direct.seen == [("http", "/predict")]
    assert full.seen == [("http", "/metrics"), ("http", "/admin/x"), ("lifespan", "")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _clients(predictor: Predictor) -> tuple[TestClient, TestClient]:
    api = create_api(lambda: predictor)
    return TestClient(api), TestClient(create_direct(lambda: predictor, api))


REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("/predict", {"json": {"instances": [fair_row()]}}),
    ("/predict", {"json": {"instances": [{**fair_row(), "age": "old"}]}}),
    ("/predict", {"json": {"instances": [fair_row()], "extra": 1}}),
    ("/predict", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("/predict", {"content": b"{}", "headers": {"content-type": "text/plain"}}),
    ("/predict", {"json": {"columns": {"age": [1.0]}}}),
    ("/feedback", {"json": {"request_id": "nope", "label": "1"}}),
    ("/feedback", {"json": {"label": "1"}}),
]


@pytest.mark.parametrize(("path", "kwargs"), REQUESTS)
def test_the_direct_app_answers_exactly_like_the_fastapi_routes(
    predictor: Predictor, make_bundle: BundleFactory, path: str, kwargs: dict[str, Any]
) -> None:
    make_bundle()
    predictor.holder.refresh()
    routed, direct = _clients(predictor)
    a, b = routed.post(path, **kwargs), direct.post(path, **kwargs)
    assert a.status_code == b.status_code
    assert a.headers["content-type"] == b.headers["content-type"]
    # each answer has its own id; the second one of a row comes from the cache
    strip = re.compile(r'"request_id":"[0-9a-f]{32}"|"cached":(true|false)')
    assert strip.sub("", a.text) == strip.sub("", b.text)
    if a.status_code == 200 and path == "/predict":
        assert (a.json()["predictions"][0]["cached"], b.json()["predictions"][0]["cached"]) == (
            False,
            True,
        )


def test_the_direct_app_checks_api_keys_times_requests_and_falls_back(
    predictor: Predictor, make_bundle: BundleFactory, metrics_registry: CollectorRegistry
) -> None:
    make_bundle()
    predictor.holder.refresh()
    predictor.settings = predictor.settings.model_copy(update={"api_keys": [SecretStr("k-1")]})
    _, direct = _clients(predictor)
    refused = direct.post("/predict", json={"instances": [fair_row()]})
    assert refused.status_code == 401 and "error" in refused.json()
    ok = direct.post("/predict", json={"instances": [fair_row()]}, headers={"X-API-Key": "k-1"})
    assert ok.status_code == 200 and ok.json()["predictions"][0]["cached"] is False
    count = "trainsmart_request_duration_seconds_count"
    assert metrics_registry.get_sample_value(count, {"endpoint": "predict", "status": "401"}) == 1
    assert metrics_registry.get_sample_value(count, {"endpoint": "predict", "status": "200"}) == 1
    # every other route is the FastAPI app's: metadata, and a 404 in our error shape
    assert direct.get("/v2/health/ready").status_code == 200
    missing = direct.post("/nowhere", json={})
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}


def test_install_wraps_a_real_bentoml_service_and_refuses_unknown_versions() -> None:
    inner = FastAPI()

    @bentoml.service(name="fastpath-probe")
    @bentoml.asgi_app(inner, path="/")
    class Probe:
        pass

    direct = Recorder()
    assert not install(Probe, direct, version="1.6.0")
    assert not isinstance(Probe.to_asgi(), FastPath)
    assert install(Probe, direct)
    assert isinstance(Probe, bentoml.Service) and Probe.name == "fastpath-probe"
    app = Probe.to_asgi()
    assert isinstance(app, FastPath) and app.direct is direct
    assert supported(bentoml.__version__) and not supported("1.4.0") and not supported("1.5.0")


@pytest.mark.server
@pytest.mark.parametrize("fast", [True, False])
def test_bentoml_middleware_sees_predictions_only_without_the_fast_path(
    fast: bool, settings: Settings, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    make_bundle()
    env = service_env(settings, TRAINSMART_SERVING__FAST_PATH=str(fast).lower())
    service = start_service(env, free_port(), tmp_path / "service.log")
    try:
        wait_http(service, "/readyz", timeout_s=60)
        with httpx.Client(base_url=service.url, timeout=30.0) as client:
            for _ in range(5):
                answer = client.post("/predict", json={"instances": [fair_row()]})
                assert answer.status_code == 200, answer.text
            metrics = client.get("/metrics").text
    finally:
        service.stop()
    seen = re.findall(
        r'bentoml_service_request_total\{[^}]*endpoint="/predict"[^}]*\} (\S+)', metrics
    )
    ours = re.search(
        r'trainsmart_request_duration_seconds_count\{endpoint="predict",status="200"\} (\S+)',
        metrics,
    )
    assert ours is not None and float(ours.group(1)) == 5.0
    if fast:
        assert seen == []  # BentoML's middleware never saw them
    else:
        assert sum(float(v) for v in seen) == 5.0
