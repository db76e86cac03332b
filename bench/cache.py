"""What the prediction cache saves, per backend, measured in one process.

For each backend (``none``, ``memory``, ``redis``) a ``Predictor`` over the
production model answers ``calls`` distinct single-row requests twice through
``Predictor.predict_rows`` (validation, cache, ONNX Runtime, input log, metrics):
the first pass misses the cache, the second hits it. Then the cache alone:
``get`` of a present key, ``get`` of an absent key, ``put``. Median and p99 per
row of the table; no HTTP, so the figures isolate the cache.

Redis: pass ``redis_url``, or let ``local_redis`` start a throwaway
``redis-server`` on a free loopback port (its rows are left out, with a note, if
``redis-server`` is not installed). Bench keys live under their own prefix with
a 10-minute expiry, so a shared Redis is not polluted for long.

Example::

    rows = cache_latencies(settings, registry, records, calls=2000)
    print("\\n".join(cache_table(rows)))
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.cache import LRUCache, PredictionCache, row_key
from serving.cache.redis_cache import RedisCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from trainsmart.registry import Registry
from trainsmart.state import InputLog, open_database

logger = logging.getLogger("trainsmart.bench")


@dataclass(frozen=True)
class CacheLatency:
    backend: str
    operation: str
    calls: int
    median_ms: float
    p99_ms: float


def _timed(run: Callable[[int], object], calls: int) -> tuple[float, float]:
    samples = np.empty(calls)
    for i in range(calls):
        started = time.perf_counter()
        run(i)
        samples[i] = (time.perf_counter() - started) * 1000
    return float(np.median(samples)), float(np.percentile(samples, 99))


@contextmanager
def local_redis() -> Iterator[str | None]:
    """A throwaway redis-server on a free loopback port (its URL), or None if not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="trainsmart-bench-redis-") as workdir:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", workdir]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"redis://127.0.0.1:{port}/0"
            probe = RedisCache(url, timeout_s=1.0, failure_threshold=1_000_000)
            deadline = time.monotonic() + 10
            while not probe.ping():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server on port {port} did not start: {probe.last_error}"
                    )
                time.sleep(0.02)
            probe.close()
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def _distinct_rows(
    holder: ModelHolder, records: list[dict[str, Any]], n: int
) -> list[dict[str, Any]]:
    """Up to ``n`` records with distinct cache keys (so a first pass really misses)."""
    model = holder.current()
    seen: set[str] = set()
    rows = []
    for record in records:
        key = row_key(model.name, model.version, model.contract.to_matrix([record])[0])
        if key not in seen:
            seen.add(key)
            rows.append(record)
            if len(rows) == n:
                break
    return rows


@dataclass(frozen=True)
class _Setup:
    holder: ModelHolder
    settings: Settings
    registry: Registry
    input_log: InputLog
    rows: list[dict[str, Any]]
    warmup: list[dict[str, Any]]


def _backend_rows(backend: str, cache: PredictionCache | None, setup: _Setup) -> list[CacheLatency]:
    holder, rows = setup.holder, setup.rows
    metrics = ServingMetrics(CollectorRegistry())
    predictor = Predictor(
        holder, cache, setup.input_log, metrics, setup.settings.serving, setup.registry
    )
    for row in setup.warmup:
        predictor.predict_rows([row])
    n = len(rows)
    out = []
    passes = (
        ["predict_rows, no cache"] if cache is None else ["predict_rows, miss", "predict_rows, hit"]
    )
    for operation in passes:
        med, p99 = _timed(lambda i: predictor.predict_rows([rows[i]]), n)
        out.append(CacheLatency(backend, operation, n, med, p99))
    if cache is None:
        return out
    model = holder.current()
    keys = [row_key(model.name, model.version, model.contract.to_matrix([r])[0]) for r in rows]
    value = cache.get(keys[0])
    if value is None:
        raise RuntimeError(f"{backend} cache lost a row it was just given; is it working?")
    absent = [f"absent:{uuid.uuid4().hex}" for _ in range(n)]
    for operation, run in (
        ("get, hit", lambda i: cache.get(keys[i])),
        ("get, miss", lambda i: cache.get(absent[i])),
        ("put", lambda i: cache.put(absent[i], value)),
    ):
        med, p99 = _timed(run, n)
        out.append(CacheLatency(backend, operation, n, med, p99))
    return out


def cache_latencies(
    settings: Settings,
    registry: Registry,
    records: list[dict[str, Any]],
    calls: int = 2000,
    redis_url: str | None = None,
) -> list[CacheLatency]:
    """Latency rows for backends none, memory and redis over the production model.

    ``records`` are raw feature rows (as /predict takes them); the first 50
    distinct ones warm up, the next ``calls`` are measured (fewer if there are
    not enough). ``redis_url`` None: a throwaway redis-server if installed, else
    no redis rows.
    """
    holder = ModelHolder(registry, settings.model_name, settings.serving)
    if not holder.refresh():
        raise RuntimeError(
            f"no production version of '{settings.model_name}' to benchmark; promote one"
        )
    distinct = _distinct_rows(holder, records, calls + 50)
    if len(distinct) < 60:
        raise ValueError(f"cache bench needs at least 60 distinct rows, got {len(distinct)}")
    rows, warmup = distinct[:-50], distinct[-50:]
    if len(rows) < calls:
        logger.warning(
            "cache bench: %d distinct rows, measuring %d calls", len(distinct), len(rows)
        )
    log = InputLog(open_database(settings))
    setup = _Setup(holder, settings, registry, log, rows, warmup)
    out = _backend_rows("none", None, setup)
    out += _backend_rows("memory", LRUCache(len(distinct) + 100), setup)
    server = local_redis() if redis_url is None else nullcontext(redis_url)
    with server as url:
        if url is None:
            logger.warning("cache bench: redis-server not installed; no redis rows")
            return out
        # a generous timeout: a bypassed call would be measured as a fast miss
        cache = RedisCache(
            url, ttl_s=600, timeout_s=1.0, prefix=f"trainsmart:bench:{uuid.uuid4().hex[:8]}:"
        )
        out += _backend_rows("redis", cache, setup)
        cache.close()
        if cache.last_error:
            raise RuntimeError(
                f"redis failed during the cache bench ({cache.last_error}); its rows are wrong"
            )
    return out


def cache_table(rows: list[CacheLatency]) -> list[str]:
    """Markdown lines: one row per (backend, operation), median and p99 in microseconds."""
    lines = [
        "| backend | operation | calls | median µs | p99 µs |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.backend} | {row.operation} | {row.calls} | "
            f"{row.median_ms * 1000:.1f} | {row.p99_ms * 1000:.1f} |"
        )
    return lines
