"""Prediction caches keyed by (model, version, canonical row).

The key hashes the row *after* validation (float32 values in contract
order), so field order and number spelling (1, 1.0, 1e0) give one key. A
miss is ``None``, never an empty value.

Backends (``serving.cache_backend``, built by ``make_cache``):

- ``memory``: ``LRUCache`` here, one per worker process;
- ``redis``: ``serving.redis_cache.RedisCache``, shared by workers and replicas,
  bypassed (never failing a request) while Redis is down;
- ``none``: no cache; every row goes to the model.

A cache never raises on get or put: a backend that cannot answer returns ``None``
(a miss) or drops the put, so the prediction is computed and served anyway.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.metrics import ServingMetrics
from serving.settings import ServingSettings

logger = logging.getLogger("trainsmart.serving")


def row_key(model: str, version: str, row: np.ndarray) -> str:
    """Canonical cache key of one validated input row."""
    digest = hashlib.sha256(np.ascontiguousarray(row, dtype=np.float32).tobytes()).hexdigest()
    return f"{model}:{version}:{digest}"


class PredictionCache(ABC):
    """Where per-row predictions are kept between requests."""

    backend: str = "unknown"
    """Label of this backend in metrics and logs (``memory``, ``redis``)."""

    @abstractmethod
    def get(self, key: str) -> dict[str, Any] | None:
        """The cached prediction, or None on a miss."""

    @abstractmethod
    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store a prediction (may evict another)."""

    def get_many(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        """One entry per key, None for each miss; backends override it to batch round trips."""
        return [self.get(key) for key in keys]

    def put_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Store several predictions; backends override it to batch round trips."""
        for key, value in items:
            self.put(key, value)

    def describe(self) -> str:
        """One line for the start-up log: the backend and its settings."""
        return self.backend


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


def make_cache(settings: ServingSettings, metrics: ServingMetrics) -> PredictionCache | None:
    """The cache ``settings.cache_backend`` names, or None for ``none``.

    Building a Redis cache never fails because Redis is down: the cache starts
    bypassed and resumes once Redis answers (see ``serving.redis_cache``).
    """
    if settings.cache_backend == "none":
        return None
    if settings.cache_backend == "memory":
        return LRUCache(settings.cache_size, settings.cache_ttl_s, metrics=metrics)
    if settings.cache_backend == "redis":
        from serving.redis_cache import RedisCache  # imports this module: import here

        cache = RedisCache(
            settings.redis_url,
            ttl_s=settings.cache_ttl_s,
            timeout_s=settings.redis_timeout_s,
            failure_threshold=settings.redis_failure_threshold,
            reset_s=settings.redis_reset_s,
            metrics=metrics,
        )
        if not cache.ping():
            logger.warning(
                "redis cache: %s does not answer (%s); starting anyway, requests bypass the "
                "cache while it is down. Start redis-server or fix serving.redis_url",
                cache.describe(),
                cache.last_error,
            )
        return cache
    raise ValueError(
        f"serving.cache_backend '{settings.cache_backend}' is unknown; use memory, redis or none"
    )
