"""Section 3 of `make bench`: `/predict` with adaptive batching and with the Redis cache.

Each variant is its own service (1 worker), measured with wrk in the same alternating
rounds as the default `/predict` and the hand-written server (:mod:`bench.measure`), at
16 and 64 connections where batching could pay. The sentences under the table are
computed from it.
"""

from __future__ import annotations

from pathlib import Path

from bench.http import Inputs
from bench.measure import HANDWRITTEN, HttpRow, Load, Plan, Target, http_table, measure
from bench.servers import handwritten, trainsmart
from bench.wrk import Counters, Fixed, Fresh

BATCHING = {"TRAINSMART_SERVING__BATCHING": "true"}
DEFAULT = "/predict, default (memory cache)"
BATCHED = "/predict, adaptive batching"
REDIS = "/predict, Redis cache"


def _loads(name: str, row: dict[str, float], misses: tuple[int, ...], hits: bool) -> list[Load]:
    loads = [Load(f"{name}, cache misses", "/predict", Fresh(row), c) for c in misses]
    if hits:
        loads.append(Load(f"{name}, cache hits", "/predict", Fixed({"instances": [row]})))
    return loads


def variant_targets(given: Inputs, redis_url: str | None) -> list[Target]:
    row = given.records[0]
    targets = [
        Target(
            handwritten(given.model, given.contract),
            [Load(HANDWRITTEN, "/predict", Fresh(row), c) for c in (16, 64)],
        ),
        Target(trainsmart(given.config), _loads(DEFAULT, row, (16, 64), hits=True)),
        Target(trainsmart(given.config, env=BATCHING), _loads(BATCHED, row, (16, 64), True)),
    ]
    if redis_url is not None:
        env = {
            "TRAINSMART_SERVING__CACHE_BACKEND": "redis",
            "TRAINSMART_SERVING__REDIS_URL": redis_url,
        }
        targets.append(Target(trainsmart(given.config, env=env), _loads(REDIS, row, (16,), True)))
    return targets


def _rps(rows: list[HttpRow], label: str, connections: int = 16) -> float | None:
    found = [r for r in rows if r.label == label and r.load.connections == connections]
    return found[0].result.rps if found else None


def findings(rows: list[HttpRow]) -> list[str]:
    """Batching and Redis against the default `/predict`, from the measured rows."""
    lines = []
    for c in (16, 64):
        base, batched = (
            _rps(rows, f"{DEFAULT}, cache misses", c),
            _rps(rows, f"{BATCHED}, cache misses", c),
        )
        if base and batched is not None:
            lines.append(
                f"- Adaptive batching at {c} connections: {batched:,.0f} req/s = "
                f"{batched / base:.2f}x the default's {base:,.0f} (cache misses)."
            )
    memory = _rps(rows, f"{DEFAULT}, cache misses")
    shared, shared_hits = _rps(rows, f"{REDIS}, cache misses"), _rps(rows, f"{REDIS}, cache hits")
    if memory and shared is not None and shared_hits is not None:
        lines.append(
            f"- Redis cache: misses {shared:,.0f} req/s = {shared / memory:.2f}x the memory "
            f"cache's; hits {shared_hits:,.0f} req/s = {shared_hits / shared:.2f}x its misses."
        )
    elif memory:
        lines.append("- Redis: `redis-server` is not installed here; not measured.")
    return lines


def variants_section(
    given: Inputs, redis_url: str | None, plan: Plan, logs: Path, counters: Counters
) -> list[str]:
    rows = measure(variant_targets(given, redis_url), plan, logs, counters)
    return [
        "## 3. `/predict` with adaptive batching and with the shared Redis cache",
        "",
        "Same method as section 2 (wrk, alternating rounds, fresh rows for misses), 1 worker "
        "each, beside the default `/predict` and the hand-written server. Batching: "
        "`serving.batching: true`, max 256 rows, no wait. Redis: a local `redis-server`, "
        "`serving.cache_backend: redis`.",
        "",
        *http_table(rows),
        "",
        *findings(rows),
    ]
