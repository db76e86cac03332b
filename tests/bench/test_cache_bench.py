"""The cache benchmark measures every backend over a real bundle and a real redis-server."""

from __future__ import annotations

import random

from apps.settings import Settings
from bench.cache import cache_latencies, cache_table
from tests.conftest import BundleFactory, fair_row
from tests.services import RedisServer
from trainsmart.registry import Registry


def test_cache_bench_rows_cover_each_backend_and_operation(
    make_bundle: BundleFactory,
    settings: Settings,
    registry: Registry,
    redis_server: RedisServer,
) -> None:
    make_bundle()
    rng = random.Random(0)
    records = [fair_row(age=float(rng.randint(18, 60)), educ=float(i % 40)) for i in range(200)]
    rows = cache_latencies(settings, registry, records, calls=100, redis_url=redis_server.url)
    assert {(r.backend, r.operation) for r in rows} >= {
        ("none", "predict_rows, no cache"),
        ("memory", "predict_rows, hit"),
        ("redis", "predict_rows, miss"),
        ("redis", "get, hit"),
    }
    assert all(r.calls == 100 and 0 < r.median_ms <= r.p99_ms for r in rows)
    table = cache_table(rows)
    assert len(table) == 2 + len(rows) and table[2].startswith("| none |")
