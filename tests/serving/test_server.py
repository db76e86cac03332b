"""Real-server tier: `bentoml serve` on a free port, readiness and hot swap under load."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apps.launch import Child, child_env, free_port, start_service, wait_http
from apps.settings import Settings
from tests.conftest import BundleFactory, fair_row
from trainsmart.registry import Registry
from trainsmart.state import InputLog

pytestmark = pytest.mark.server


def service_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment of a service on the test's data directory, serving model 'fair'."""
    return child_env(
        None, TRAINSMART_DATA_DIR=str(settings.data_dir), TRAINSMART_MODEL_NAME="fair", **overrides
    )


@pytest.fixture
def service(settings: Settings, tmp_path: Path) -> Iterator[Child]:
    env = service_env(settings, TRAINSMART_SERVING__RELOAD_INTERVAL_S="0.3")
    child = start_service(env, free_port(), tmp_path / "service.log")
    yield child
    child.stop()


def test_not_ready_until_a_model_is_promoted_then_swaps_under_load(
    service: Child, make_bundle: BundleFactory, registry: Registry, input_log: InputLog
) -> None:
    wait_http(service, "/livez")
    assert httpx.get(service.url + "/readyz").status_code == 503
    early = httpx.post(service.url + "/predict", json={"instances": [fair_row()]})
    assert early.status_code == 503 and "error" in early.json()

    v1 = make_bundle(bias=-2.0)
    wait_http(service, "/readyz", timeout_s=30)

    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def hammer(seed: int) -> None:
        with httpx.Client(base_url=service.url, timeout=30.0) as client:
            i = 0
            while not stop.is_set():
                i += 1
                r = client.post(
                    "/predict", json={"instances": [fair_row(age=20 + (seed * i) % 40)]}
                )
                answers.append((r.status_code, r.json().get("version")))

    threads = [threading.Thread(target=hammer, args=(s,)) for s in (1, 7, 13)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    v2 = make_bundle(bias=2.0)  # registers and promotes while traffic flows
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(v == v2 for _, v in answers[-10:]):
        time.sleep(0.2)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=30)

    statuses = {s for s, _ in answers}
    versions = [v for _, v in answers]
    assert statuses == {200}, f"failed requests during the swap: {statuses}"
    assert v1 in versions and v2 in versions
    # once a worker answered with v2 it never goes back to v1
    assert v1 not in versions[versions.index(v2) + 5 :]
    assert input_log.count("fair") == len(answers)
    metrics = httpx.get(service.url + "/metrics").text
    assert f'trainsmart_model_info{{model="fair",version="{v2}"}} 1.0' in metrics
    assert f'trainsmart_model_info{{model="fair",version="{v1}"}} 0.0' in metrics
    assert "trainsmart_predictions_total" in metrics
    assert 'trainsmart_cache_requests_total{result="miss"}' in metrics


def test_two_workers_log_every_row_to_one_sqlite_file(
    settings: Settings, tmp_path: Path, make_bundle: BundleFactory, input_log: InputLog
) -> None:
    version = make_bundle()
    env = service_env(settings, TRAINSMART_SERVING__WORKERS="2")
    service = start_service(env, free_port(), tmp_path / "service2.log")
    try:
        wait_http(service, "/readyz")
        results: list[int] = []

        def send(offset: int) -> None:
            with httpx.Client(base_url=service.url, timeout=30.0) as client:
                for i in range(50):
                    rows = [fair_row(age=float(offset + i)), fair_row(educ=float(i))]
                    results.append(client.post("/predict", json={"instances": rows}).status_code)

        threads = [threading.Thread(target=send, args=(k * 100,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert results == [200] * 200
        assert input_log.count("fair", version) == 400
        metrics = httpx.get(service.url + "/metrics").text
        assert f'trainsmart_model_info{{model="fair",version="{version}"}} 1.0' in metrics
    finally:
        service.stop()
    started = service.log_path.read_text().count("Service trainsmart initialized")
    assert started == 2, "the service did not run two workers"
