"""The Redis cache against a real redis-server (tests/services.py): sharing, expiry,
canonical keys, and Redis killed or hung without a request failing."""

from __future__ import annotations

import json
import logging
import time

import pytest
import redis
from prometheus_client import CollectorRegistry

from serving.cache import make_cache, row_key
from serving.cache.redis_cache import KEY_PREFIX, RedisCache, redact
from serving.metrics import ServingMetrics
from serving.settings import ServingSettings
from tests.conftest import fair_contract, fair_row
from tests.services import RedisServer, free_port, wait_until

PREDICTION = {"class": "1", "probabilities": {"0": 0.30000001192092896, "1": 0.699999988079071}}
REDIS = {"backend": "redis"}


def new_cache(url: str, registry: CollectorRegistry, **options: float) -> RedisCache:
    """Generous timeout (a loaded CI machine) and a short reset so tests stay fast."""
    settings: dict[str, float] = {"timeout_s": 0.2, "failure_threshold": 3, "reset_s": 0.3}
    settings.update(options)
    return RedisCache(
        url,
        ttl_s=settings.pop("ttl_s", 0.0),
        timeout_s=settings["timeout_s"],
        failure_threshold=int(settings["failure_threshold"]),
        reset_s=settings["reset_s"],
        metrics=ServingMetrics(registry),
    )


def value(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name, REDIS)


def test_round_trip_is_namespaced_json_and_a_miss_is_none(
    redis_server: RedisServer, metrics_registry: CollectorRegistry
) -> None:
    cache = new_cache(redis_server.url, metrics_registry)
    assert cache.get("fair:v1:abc") is None
    cache.put("fair:v1:abc", PREDICTION)
    assert cache.get("fair:v1:abc") == PREDICTION  # floats come back bit for bit
    raw = redis.Redis.from_url(redis_server.url)
    assert json.loads(raw.get(KEY_PREFIX + "fair:v1:abc") or b"") == PREDICTION
    assert raw.ttl(KEY_PREFIX + "fair:v1:abc") == -1  # ttl_s 0: no expiry
    assert value(metrics_registry, "trainsmart_cache_errors_total") == 0
    assert value(metrics_registry, "trainsmart_cache_breaker_open") == 0


def test_a_value_written_by_one_worker_is_read_by_another(
    redis_server: RedisServer, metrics_registry: CollectorRegistry
) -> None:
    worker_a = new_cache(redis_server.url, metrics_registry)
    worker_b = new_cache(redis_server.url, CollectorRegistry())
    worker_a.put("fair:v1:a", PREDICTION)
    assert worker_b.get("fair:v1:a") == PREDICTION
    worker_b.put_many([("fair:v1:b", {"class": "0"}), ("fair:v1:c", {"class": "1"})])
    assert worker_a.get_many(["fair:v1:b", "fair:v1:missing", "fair:v1:c"]) == [
        {"class": "0"},
        None,
        {"class": "1"},
    ]


def test_ttl_becomes_the_key_expiry(
    redis_server: RedisServer, metrics_registry: CollectorRegistry
) -> None:
    cache = new_cache(redis_server.url, metrics_registry, ttl_s=0.3)
    cache.put("fair:v1:a", PREDICTION)
    assert 0 < redis.Redis.from_url(redis_server.url).pttl(KEY_PREFIX + "fair:v1:a") <= 300
    assert cache.get("fair:v1:a") == PREDICTION
    time.sleep(0.5)
    assert cache.get("fair:v1:a") is None


def test_canonical_key_hits_across_workers(
    redis_server: RedisServer, metrics_registry: CollectorRegistry
) -> None:
    contract = fair_contract()
    row = contract.to_matrix([fair_row(age=32, educ=14.0)])[0]
    same = contract.to_matrix([dict(reversed(list(fair_row(age=32.0, educ=1.4e1).items())))])[0]
    new_cache(redis_server.url, metrics_registry).put(row_key("fair", "v1", row), PREDICTION)
    other = new_cache(redis_server.url, CollectorRegistry())
    assert other.get(row_key("fair", "v1", same)) == PREDICTION
    assert other.get(row_key("fair", "v2", same)) is None


def test_unreadable_value_is_a_counted_miss(
    redis_server: RedisServer, metrics_registry: CollectorRegistry
) -> None:
    cache = new_cache(redis_server.url, metrics_registry)
    redis.Redis.from_url(redis_server.url).set(KEY_PREFIX + "fair:v1:a", b"not json")
    assert cache.get("fair:v1:a") is None
    assert value(metrics_registry, "trainsmart_cache_errors_total") == 1
    assert cache.breaker.state == "closed"  # Redis itself answered


def test_killed_redis_is_bypassed_then_the_cache_resumes(
    redis_server: RedisServer, metrics_registry: CollectorRegistry
) -> None:
    cache = new_cache(redis_server.url, metrics_registry)
    cache.put("fair:v1:a", PREDICTION)
    redis_server.kill()
    started = time.perf_counter()
    for _ in range(3):  # refused connections: fast failures, each counted
        assert cache.get("fair:v1:a") is None
    cache.put("fair:v1:b", PREDICTION)  # breaker open now: skipped, no error
    assert time.perf_counter() - started < 0.5
    assert cache.breaker.state == "open"
    assert value(metrics_registry, "trainsmart_cache_breaker_open") == 1
    assert value(metrics_registry, "trainsmart_cache_errors_total") == 3
    started = time.perf_counter()
    for _ in range(200):
        assert cache.get("fair:v1:a") is None
    assert time.perf_counter() - started < 0.1  # open: nobody waits on Redis

    redis_server.start()  # same port, empty (no persistence)
    wait_until(cache.ping, 5.0, "the cache resuming after reset_s")
    assert cache.breaker.state == "closed"
    assert value(metrics_registry, "trainsmart_cache_breaker_open") == 0
    cache.put("fair:v1:a", PREDICTION)
    assert cache.get("fair:v1:a") == PREDICTION


def test_hung_redis_costs_one_timeout_per_call_until_the_breaker_opens(
    redis_server: RedisServer, metrics_registry: CollectorRegistry
) -> None:
    cache = new_cache(redis_server.url, metrics_registry, timeout_s=0.1, failure_threshold=2)
    cache.put("fair:v1:a", PREDICTION)
    redis_server.pause()
    try:
        started = time.perf_counter()
        assert cache.get("fair:v1:a") is None
        elapsed = time.perf_counter() - started
        assert 0.09 < elapsed < 0.35, f"one call took {elapsed:.3f} s: retries not disabled?"
        assert cache.get("fair:v1:a") is None
        assert cache.breaker.state == "open" and "Timeout" in cache.last_error
        started = time.perf_counter()
        for _ in range(100):
            cache.put("fair:v1:a", PREDICTION)
        assert time.perf_counter() - started < 0.1
    finally:
        redis_server.resume()
    wait_until(cache.ping, 5.0, "the cache resuming after the server resumed")
    assert cache.get("fair:v1:a") == PREDICTION


def test_service_starts_with_redis_down_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    settings = ServingSettings(
        cache_backend="redis", redis_url=f"redis://:secret@127.0.0.1:{free_port()}/0"
    )
    with caplog.at_level(logging.WARNING, logger="trainsmart.serving"):
        cache = make_cache(settings, ServingMetrics(registry))
    assert isinstance(cache, RedisCache)
    assert cache.get("fair:v1:a") is None
    cache.put("fair:v1:a", PREDICTION)
    assert value(registry, "trainsmart_cache_errors_total") == 3  # ping, get, put
    assert "does not answer" in caplog.text and "secret" not in caplog.text
    assert "consecutive failures" in caplog.text  # the breaker opened, and said what to do


def test_redact_hides_only_the_password() -> None:
    assert redact("redis://user:pw@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
