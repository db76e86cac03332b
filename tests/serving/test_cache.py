"""The in-process LRU cache and the canonical row key."""

from __future__ import annotations

import time

import numpy as np

from serving.cache import LRUCache, row_key
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
