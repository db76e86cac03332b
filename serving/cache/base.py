"""Prediction caches keyed by (model, version, canonical row).

The key hashes the row *after* validation (float32 values in contract
order), so field order and number spelling (1, 1.0, 1e0) give one key. A
miss is ``None``, never an empty value.

Backends (``serving.cache_backend``, built by ``make_cache``):

- ``memory``: ``LRUCache`` (``memory.py``), one per worker process;
- ``redis``: ``serving.cache.redis_cache.RedisCache``, shared by workers and replicas,
  bypassed (never failing a request) while Redis is down;
- ``none``: no cache; every row goes to the model.

A cache never raises on get or put: a backend that cannot answer returns ``None``
(a miss) or drops the put, so the prediction is computed and served anyway.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np


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
