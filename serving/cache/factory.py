"""The cache ``serving.cache_backend`` names."""

from __future__ import annotations

import logging

from serving.cache.base import PredictionCache
from serving.cache.memory import LRUCache
from serving.cache.redis_cache import RedisCache
from serving.metrics import ServingMetrics
from serving.settings import ServingSettings

logger = logging.getLogger("trainsmart.serving")


def make_cache(settings: ServingSettings, metrics: ServingMetrics) -> PredictionCache | None:
    """The cache ``settings.cache_backend`` names, or None for ``none``.

    Building a Redis cache never fails because Redis is down: the cache starts
    bypassed and resumes once Redis answers (see ``serving.cache.redis_cache``).
    """
    if settings.cache_backend == "none":
        return None
    if settings.cache_backend == "memory":
        return LRUCache(settings.cache_size, settings.cache_ttl_s, metrics=metrics)
    if settings.cache_backend == "redis":
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
