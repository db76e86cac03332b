"""In-process tier with the Redis cache: Redis killed in the middle of a burst of
/predict requests fails none of them, loses no logged row, and the cache resumes
once Redis is back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.api import create_api
from serving.cache.redis_cache import RedisCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from tests.conftest import BundleFactory, fair_row
from tests.services import RedisServer, wait_until
from trainsmart.registry import Registry
from trainsmart.state import InputLog

REQUESTS, THREADS, KILL_AFTER, DISTINCT_ROWS = 300, 8, 100, 20


def test_redis_killed_mid_burst_fails_no_request_and_loses_no_row(
    make_bundle: BundleFactory,
    holder: ModelHolder,
    input_log: InputLog,
    settings: Settings,
    registry: Registry,
    redis_server: RedisServer,
) -> None:
    make_bundle()
    holder.refresh()
    metrics_registry = CollectorRegistry()
    metrics = ServingMetrics(metrics_registry)
    cache = RedisCache(
        redis_server.url, timeout_s=0.2, failure_threshold=3, reset_s=0.2, metrics=metrics
    )
    predictor = Predictor(holder, cache, input_log, metrics, settings.serving, registry)
    client = TestClient(create_api(lambda: predictor))

    done = 0
    lock = threading.Lock()

    def predict(i: int) -> tuple[int, bool]:
        nonlocal done
        body = {"instances": [fair_row(age=float(20 + i % DISTINCT_ROWS))]}
        response = client.post("/predict", json=body)
        with lock:
            done += 1
            if done == KILL_AFTER:
                redis_server.kill()
        cached = response.status_code == 200 and response.json()["predictions"][0]["cached"]
        return response.status_code, bool(cached)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(predict, range(REQUESTS)))

    statuses = [status for status, _ in results]
    assert statuses == [200] * REQUESTS, f"failed: {[s for s in statuses if s != 200]}"
    assert input_log.count("fair") == REQUESTS  # every row logged, hits and bypasses alike
    assert any(cached for _, cached in results[:KILL_AFTER])  # Redis answered before the kill
    sample = {"backend": "redis"}
    assert (metrics_registry.get_sample_value("trainsmart_cache_errors_total", sample) or 0) >= 3
    assert metrics_registry.get_sample_value("trainsmart_cache_breaker_open", sample) == 1

    redis_server.start()  # same port; the cache finds it again by itself

    def cached_again() -> bool:
        response = client.post("/predict", json={"instances": [fair_row(age=55.0)]})
        assert response.status_code == 200, response.text
        return bool(response.json()["predictions"][0]["cached"])

    wait_until(cached_again, 5.0, "a cache hit after Redis restarted")
    assert metrics_registry.get_sample_value("trainsmart_cache_breaker_open", sample) == 0
