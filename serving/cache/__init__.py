"""Prediction caches keyed by (model, version, canonical row): the interface and key
(``base.py``), the per-worker LRU (``memory.py``), Redis shared by workers and replicas
(``redis_cache.py``, behind a circuit breaker, ``breaker.py``), and the factory that
``serving.cache_backend`` drives (``factory.py``)."""

from serving.cache.base import PredictionCache, row_key
from serving.cache.factory import make_cache
from serving.cache.memory import LRUCache
from serving.cache.redis_cache import RedisCache

__all__ = ["LRUCache", "PredictionCache", "RedisCache", "make_cache", "row_key"]
