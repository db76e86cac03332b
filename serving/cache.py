"""Prediction caches keyed by (model, version, canonical row).

The key hashes the row *after* validation (float32 values in contract
order), so field order and number spelling (1, 1.0, 1e0) give one key. A
miss is ``None``, never an empty value.
"""

from __future__ import annotations

import hashlib
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any

import numpy as np


def row_key(model: str, version: str, row: np.ndarray) -> str:
    """Canonical cache key of one validated input row."""
    digest = hashlib.sha256(np.ascontiguousarray(row, dtype=np.float32).tobytes()).hexdigest()
    return f"{model}:{version}:{digest}"


class PredictionCache(ABC):
    """Where per-row predictions are kept between requests."""

    @abstractmethod
    def get(self, key: str) -> dict[str, Any] | None:
        """The cached prediction, or None on a miss."""

    @abstractmethod
    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store a prediction (may evict another)."""


class LRUCache(PredictionCache):
    """In-process least-recently-used cache with an optional time to live.

    Example::

        cache = LRUCache(max_entries=10_000, ttl_s=300)
        cache.put(key, {"class": "1"})
        cache.get(key)   # {"class": "1"}, or None after eviction or expiry
    """

    def __init__(self, max_entries: int, ttl_s: float = 0.0) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.evictions = 0
        self._data: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

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
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
                self.evictions += 1
