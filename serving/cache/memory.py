"""``cache_backend: memory``: an LRU of predictions in each worker process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from serving.cache.base import PredictionCache
from serving.metrics import ServingMetrics


class LRUCache(PredictionCache):
    """In-process least-recently-used cache with an optional time to live.

    Example::

        cache = LRUCache(max_entries=10_000, ttl_s=300, metrics=metrics)
        cache.put(key, {"class": "1"})
        cache.get(key)   # {"class": "1"}, or None after eviction or expiry

    Evictions to make room are counted in ``evictions`` and, given ``metrics``, in
    ``trainsmart_cache_evictions_total{backend="memory"}``; expired entries are not.
    """

    backend = "memory"

    def __init__(
        self, max_entries: int, ttl_s: float = 0.0, metrics: ServingMetrics | None = None
    ) -> None:
        if max_entries <= 0:
            raise ValueError(f"max_entries must be positive, got {max_entries}")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.evictions = 0
        self._data: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._evicted = None if metrics is None else metrics.cache_evictions.labels(self.backend)
        if metrics is not None:  # an LRU never errs and has no breaker: both series read 0
            metrics.cache_errors.labels(self.backend)
            metrics.cache_breaker_open.labels(self.backend).set(0)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if self.ttl_s and time.monotonic() - stored_at > self.ttl_s:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._data[key] = (time.monotonic(), value)
            self._data.move_to_end(key)
            evicted = 0
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
                evicted += 1
            self.evictions += evicted
        if evicted and self._evicted is not None:
            self._evicted.inc(evicted)

    def describe(self) -> str:
        ttl = f"{self.ttl_s:g} s" if self.ttl_s else "none"
        return f"memory (LRU per worker, {self.max_entries} entries, ttl {ttl})"
