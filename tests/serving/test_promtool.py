"""`/metrics` of the real service passes `promtool check metrics` (Prometheus naming rules)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from apps.launch import child_env, free_port, start_service, wait_http
from apps.settings import Settings
from tests.conftest import BundleFactory, fair_row
from tests.services import require_binary

pytestmark = pytest.mark.server


def test_a_scrape_after_traffic_passes_promtool(
    settings: Settings, tmp_path: Path, make_bundle: BundleFactory
) -> None:
    promtool = require_binary("promtool", apt_package="prometheus")
    make_bundle()
    env = child_env(
        None,
        TRAINSMART_DATA_DIR=str(settings.data_dir),
        TRAINSMART_MODEL_NAME="fair",
        TRAINSMART_SERVING__RELOAD_INTERVAL_S="0.3",
    )
    service = start_service(env, free_port(), tmp_path / "service.log")
    try:
        wait_http(service, "/readyz")
        with httpx.Client(base_url=service.url, timeout=30.0) as client:
            served = client.post("/predict", json={"instances": [fair_row(), fair_row()]})
            client.post("/predict", json={"instances": [fair_row()]})  # a cache hit
            client.post("/predict", json={"instances": [{"age": "old"}]})  # a 400
            request_id = served.json()["request_id"]
            client.post("/feedback", json={"request_id": request_id, "label": "1"})
            new = make_bundle(bias=1.0)  # a swap
            swapped = f'trainsmart_model_info{{model="fair",version="{new}"}} 1.0'
            deadline = time.monotonic() + 20
            scrape = client.get("/metrics").text
            while swapped not in scrape and time.monotonic() < deadline:
                time.sleep(0.2)
                scrape = client.get("/metrics").text
            assert swapped in scrape
    finally:
        service.stop()
    for family in (
        "trainsmart_predictions_total",
        "trainsmart_request_duration_seconds",
        "trainsmart_cache_requests_total",
        "trainsmart_feedback_total",
        "trainsmart_model_info",
    ):
        assert f"# TYPE {family}" in scrape, family
    check = subprocess.run(
        [promtool, "check", "metrics"], input=scrape, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
