"""The in-process LRU cache, the canonical row key and the backend factory."""

from __future__ import annotations

import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from serving.cache import LRUCache, make_cache, row_key
from serving.metrics import ServingMetrics
from serving.settings import ServingSettings
from tests.conftest import fair_contract, fair_row


def test_lru_evicts_least_recently_used_and_misses_are_none() -> None:
    cache = LRUCache(max_entries=2)
    cache.put("a", {"v": 1})
    cache.put("b", {"v": 2})
    assert cache.get("a") == {"v": 1}  # a is now most recent
    cache.put("c", {"v": 3})
    assert cache.get("b") is None
    assert cache.get("a") == {"v": 1} and cache.get("c") == {"v": 3}
    assert cache.evictions == 1 and len(cache) == 2


def test_ttl_expires_entries() -> None:
    cache = LRUCache(max_entries=10, ttl_s=0.05)
    cache.put("a", {"v": 1})
    time.sleep(0.1)
    assert cache.get("a") is None


def test_key_ignores_field_order_and_number_spelling_but_not_version() -> None:
    contract = fair_contract()
    a = contract.to_matrix([fair_row(age=32, educ=14.0)])[0]
    b = contract.to_matrix([dict(reversed(list(fair_row(age=32.0, educ=1.4e1).items())))])[0]
    assert row_key("fair", "v1", a) == row_key("fair", "v1", b)
    assert row_key("fair", "v1", a) != row_key("fair", "v2", a)
    assert row_key("fair", "v1", a) != row_key("other", "v1", a)
    c = contract.to_matrix([fair_row(age=33)])[0]
    assert row_key("fair", "v1", a) != row_key("fair", "v1", c)
    assert np.isnan(contract.to_matrix([fair_row(educ=None)])[0][5])


def test_lru_counts_evictions_in_its_metric() -> None:
    registry = CollectorRegistry()
    cache = LRUCache(max_entries=2, metrics=ServingMetrics(registry))
    sample = {"backend": "memory"}
    assert registry.get_sample_value("trainsmart_cache_evictions_total", sample) == 0
    for key in "abcde":
        cache.put(key, {"v": key})
    cache.put("e", {"v": "again"})  # overwriting an entry evicts nothing
    assert registry.get_sample_value("trainsmart_cache_evictions_total", sample) == 3
    assert cache.evictions == 3


def test_make_cache_follows_the_backend_setting() -> None:
    metrics = ServingMetrics(CollectorRegistry())
    memory = make_cache(ServingSettings(cache_size=7, cache_ttl_s=3), metrics)
    assert isinstance(memory, LRUCache)
    assert (memory.max_entries, memory.ttl_s) == (7, 3)
    assert "memory" in memory.describe()
    assert make_cache(ServingSettings(cache_backend="none"), metrics) is None


def test_cache_enabled_false_still_turns_the_cache_off() -> None:
    old = ServingSettings(cache_enabled=False)
    assert old.cache_backend == "none"
    assert ServingSettings(cache_backend="none").cache_enabled is False
    assert ServingSettings().cache_enabled and ServingSettings().cache_backend == "memory"


def test_bad_cache_settings_are_named() -> None:
    with pytest.raises(ValidationError, match="cache_backend"):
        ServingSettings(cache_backend="memcached")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not a Redis URL"):
        ServingSettings(redis_url="127.0.0.1:6379")
