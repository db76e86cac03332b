"""The Redis prediction cache: one cache shared by every worker and replica.

Keys are ``trainsmart:pred:<model>:<version>:<row sha256>`` (``row_key`` with a
namespace, so the cache can share a Redis database with other programs);
values are the prediction as JSON. ``serving.cache_ttl_s`` becomes the key's
expiry (0: none; Redis's own ``maxmemory-policy`` then decides evictions, which
Redis counts in ``INFO stats`` as ``evicted_keys``, not in our metrics).

Redis is an optimisation, never a dependency of a request: a refused
connection, a timeout (``serving.redis_timeout_s``), a server error or an
unreadable value makes ``get`` a miss and ``put`` a no-op, the request is
answered from the model, and ``trainsmart_cache_errors_total{backend="redis"}``
counts the failure. After ``redis_failure_threshold`` consecutive failures the
circuit breaker (``serving.cache.breaker``) opens: calls skip Redis without waiting
for a timeout and ``trainsmart_cache_breaker_open{backend="redis"}`` reads 1.
Every ``redis_reset_s`` one call probes Redis; when it answers, the breaker
closes and the cache resumes by itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from serving.cache.base import PredictionCache
from serving.cache.breaker import CircuitBreaker
from serving.metrics import ServingMetrics
from trainsmart.errors import redact

logger = logging.getLogger("trainsmart.serving")

KEY_PREFIX = "trainsmart:pred:"
T = TypeVar("T")


class RedisCache(PredictionCache):
    """Prediction cache in Redis, bypassed (never failing a request) while Redis is down.

    Example::

        cache = RedisCache("redis://127.0.0.1:6379/0", ttl_s=300, metrics=metrics)
        cache.put(key, {"class": "1"})
        cache.get(key)   # {"class": "1"} from any worker; None on a miss or if Redis is down

    Building one does no I/O, so a service starts while Redis is down; ``ping``
    checks it. The client does not retry: one failed call is one bypass.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float = 0.0,
        timeout_s: float = 0.05,
        failure_threshold: int = 3,
        reset_s: float = 5.0,
        metrics: ServingMetrics | None = None,
        prefix: str = KEY_PREFIX,
    ) -> None:
        if ttl_s < 0:
            raise ValueError(f"ttl_s must be >= 0 (0: no expiry), got {ttl_s}")
        self.url = url
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.prefix = prefix
        self._ttl_ms = max(1, round(ttl_s * 1000)) if ttl_s > 0 else None
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            client_name="trainsmart-serving",
        )
        self._metrics = metrics
        self._last_error = ""
        self.breaker = CircuitBreaker(failure_threshold, reset_s, on_change=self._breaker_changed)
        if metrics is not None:  # export the series at 0 before anything happens
            metrics.cache_errors.labels(self.backend)
            metrics.cache_breaker_open.labels(self.backend).set(0)

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._call("get", lambda: self._client.get(self.prefix + key))
        return None if raw is None else self._decode(raw)

    def put(self, key: str, value: dict[str, Any]) -> None:
        data = json.dumps(value, separators=(",", ":"))
        self._call("set", lambda: self._client.set(self.prefix + key, data, px=self._ttl_ms))

    def get_many(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        """One MGET round trip for all ``keys``."""
        if not keys:
            return []
        names = [self.prefix + key for key in keys]
        raws = self._call("mget", lambda: self._client.mget(names))
        if raws is None:
            return [None] * len(keys)
        return [None if raw is None else self._decode(raw) for raw in raws]

    def put_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """One pipelined round trip of SETs (not a transaction: each key stands alone)."""
        if not items:
            return

        def run() -> object:
            pipe = self._client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(
                    self.prefix + key, json.dumps(value, separators=(",", ":")), px=self._ttl_ms
                )
            return pipe.execute()

        self._call("pipelined set", run)

    def ping(self) -> bool:
        """Whether Redis answers now (a failure counts towards the breaker like any call)."""
        return self._call("ping", self._client.ping) is not None

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        self._client.close()

    def describe(self) -> str:
        ttl = f"{self.ttl_s:g} s" if self.ttl_s else "none"
        return (
            f"redis at {redact(self.url)} (shared by workers, ttl {ttl}, "
            f"timeout {self.timeout_s * 1000:g} ms, breaker opens after "
            f"{self.breaker.failure_threshold} failures, probes every {self.breaker.reset_s:g} s)"
        )

    @property
    def last_error(self) -> str:
        """The most recent failure, ``"TypeName: message"`` (empty if none yet)."""
        return self._last_error

    def _call(self, operation: str, call: Callable[[], T]) -> T | None:
        """Run one Redis call through the breaker; None if skipped or failed."""
        if not self.breaker.allow():
            return None
        try:
            result = call()
        except Exception as exc:  # any failure bypasses the cache; none may fail the request
            self._last_error = f"{type(exc).__name__}: {exc}"
            logger.debug("redis cache %s failed: %s", operation, self._last_error)
            if self._metrics is not None:
                self._metrics.cache_errors.labels(self.backend).inc()
            self.breaker.failure()
            return None
        self.breaker.success()
        return result

    def _decode(self, raw: bytes | str) -> dict[str, Any] | None:
        """The stored prediction, or None (counted as an error) if it is not a JSON object."""
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        logger.warning(
            "redis cache: a value under %s* is not a JSON object (%.60r); treated as a miss, "
            "the next prediction overwrites it. Is another program writing to this namespace?",
            self.prefix,
            raw,
        )
        if self._metrics is not None:
            self._metrics.cache_errors.labels(self.backend).inc()
        return None

    def _breaker_changed(self, is_open: bool) -> None:
        if self._metrics is not None:
            self._metrics.cache_breaker_open.labels(self.backend).set(1 if is_open else 0)
        if is_open:
            logger.warning(
                "redis cache at %s: %d consecutive failures (last: %s); requests bypass the "
                "cache and Redis is probed every %g s. Check that redis-server is running and "
                "reachable, or set serving.cache_backend: memory",
                redact(self.url),
                self.breaker.failure_threshold,
                self._last_error,
                self.breaker.reset_s,
            )
        else:
            logger.info("redis cache at %s answers again; cache resumed", redact(self.url))
