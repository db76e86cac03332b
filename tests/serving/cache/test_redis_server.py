"""Real-server tier with the Redis cache: two BentoML workers share it, /metrics
reports the breaker, and killing Redis fails no request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apps.launch import Child, free_port, start_service, wait_http
from apps.settings import Settings
from tests.conftest import BundleFactory, fair_row
from tests.services import RedisServer
from tests.serving.test_server import service_env
from trainsmart.state import InputLog

pytestmark = pytest.mark.server

BREAKER = 'trainsmart_cache_breaker_open{backend="redis"}'


@pytest.fixture
def redis_service(
    settings: Settings, tmp_path: Path, redis_server: RedisServer, make_bundle: BundleFactory
) -> Iterator[Child]:
    make_bundle()
    env = service_env(
        settings,
        TRAINSMART_SERVING__WORKERS="2",
        TRAINSMART_SERVING__CACHE_BACKEND="redis",
        TRAINSMART_SERVING__REDIS_URL=redis_server.url,
        TRAINSMART_SERVING__REDIS_RESET_S="0.5",
    )
    child = start_service(env, free_port(), tmp_path / "service.log")
    yield child
    child.stop()


def breaker_value(url: str) -> float | None:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(BREAKER):
            return float(line.split()[-1])
    return None


def test_workers_share_redis_and_survive_its_death(
    redis_service: Child, redis_server: RedisServer, input_log: InputLog, tmp_path: Path
) -> None:
    wait_http(redis_service, "/readyz", timeout_s=60)
    url = redis_service.url
    body = {"instances": [fair_row(age=41.0)]}
    assert httpx.post(url + "/predict", json=body).json()["predictions"][0]["cached"] is False
    # new connection per request: both workers answer; each finds the row in Redis
    cached = [httpx.post(url + "/predict", json=body).json() for _ in range(20)]
    assert all(c["predictions"][0]["cached"] for c in cached)
    assert breaker_value(url) == 0

    redis_server.kill()
    statuses = [
        httpx.post(url + "/predict", json={"instances": [fair_row(age=float(a))]}).status_code
        for a in range(20, 60)
    ]
    assert statuses == [200] * 40
    deadline = time.monotonic() + 10
    while breaker_value(url) != 1 and time.monotonic() < deadline:
        httpx.post(url + "/predict", json=body)
    assert breaker_value(url) == 1, (tmp_path / "service.log").read_text()[-3000:]
    assert input_log.count("fair") >= 61
