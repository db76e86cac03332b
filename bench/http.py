"""HTTP figures of `make bench`: `/predict` against the bare BentoML echo floor.

Every service is started the same way (``bentoml serve`` through
:func:`trainsmart.launch.start_service`) with the same settings file, then driven
by the same closed-loop generator (:mod:`bench.load`) with the same payloads:

* the concurrency sweep (1, 16, 64): echo, `/predict` cache misses, `/predict`
  cache hits (the same row every time);
* worker scaling: `/predict` misses at one concurrency with 1 and 2 workers.

Example::

    rows = serving_sweep(config, bodies, bodies[0], total=3000)
    rows[0].label, rows[0].result.rps, rows[0].floor.rps
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import LoadResult, run_load

CONCURRENCY = (1, 16, 64)


@dataclass(frozen=True)
class HttpRow:
    """One measured endpoint at one concurrency, with the echo floor measured beside it."""

    label: str
    concurrency: int
    workers: int
    result: LoadResult
    floor: LoadResult


def _measure(
    config: Path,
    service: str,
    path: str,
    bodies_by_label: dict[str, list[Any]],
    concurrencies: tuple[int, ...],
    total: int,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> dict[tuple[str, int], LoadResult]:
    from trainsmart.launch import child_env, free_port, start_service, wait_http

    env = {**child_env(config), "TRAINSMART_SERVING__WORKERS": str(workers), **(extra_env or {})}
    log = config.parent / f"{service.split(':')[-1].lower()}-{workers}w-{len(extra_env or {})}.log"
    child = start_service(env, free_port(), log, service)
    results: dict[tuple[str, int], LoadResult] = {}
    try:
        wait_http(child, "/readyz")
        for concurrency in concurrencies:
            for label, bodies in bodies_by_label.items():
                results[(label, concurrency)] = run_load(
                    child.url + path, bodies, concurrency=concurrency, total=total
                )
    finally:
        child.stop()
    return results


def serving_sweep(
    config: Path, bodies: list[Any], hit_body: Any, *, total: int, scaling_concurrency: int = 16
) -> list[HttpRow]:
    """Echo vs `/predict` (misses, hits) at each concurrency, then 2 workers."""
    echo = _measure(
        config, "bench.echo_service:Echo", "/echo", {"echo": bodies}, CONCURRENCY, total
    )
    predict = _measure(
        config,
        "serving.service:Trainsmart",
        "/predict",
        {"/predict, cache misses": bodies, "/predict, cache hits": [hit_body]},
        CONCURRENCY,
        total,
    )
    rows = [
        HttpRow(label, concurrency, 1, result, echo[("echo", concurrency)])
        for (label, concurrency), result in predict.items()
    ]
    rows = [
        HttpRow("echo (floor)", c, 1, echo[("echo", c)], echo[("echo", c)]) for c in CONCURRENCY
    ] + rows
    rows.sort(key=lambda row: (row.concurrency, row.label != "echo (floor)"))
    for workers in (2,):
        floor = _measure(
            config,
            "bench.echo_service:Echo",
            "/echo",
            {"echo": bodies},
            (scaling_concurrency,),
            total,
            workers,
        )[("echo", scaling_concurrency)]
        scaled = _measure(
            config,
            "serving.service:Trainsmart",
            "/predict",
            {"/predict, cache misses": bodies},
            (scaling_concurrency,),
            total,
            workers,
        )
        rows.append(HttpRow("echo (floor)", scaling_concurrency, workers, floor, floor))
        for (label, concurrency), result in scaled.items():
            rows.append(HttpRow(label, concurrency, workers, result, floor))
    return rows


def variant_rows(
    config: Path,
    bodies: list[Any],
    hit_body: Any,
    floor: list[HttpRow],
    *,
    name: str,
    env: dict[str, str],
    concurrencies: tuple[int, ...],
    total: int,
) -> list[HttpRow]:
    """`/predict` misses and hits with settings ``env`` (e.g. the Redis cache, batching),
    compared with the 1-worker echo floor already measured at each concurrency."""
    measured = _measure(
        config,
        "serving.service:Trainsmart",
        "/predict",
        {f"/predict, {name}, cache misses": bodies, f"/predict, {name}, cache hits": [hit_body]},
        concurrencies,
        total,
        extra_env=env,
    )
    floors = {
        r.concurrency: r.result for r in floor if r.label == "echo (floor)" and r.workers == 1
    }
    return [
        HttpRow(label, concurrency, 1, result, floors[concurrency])
        for (label, concurrency), result in measured.items()
    ]


def sweep_table(rows: list[HttpRow]) -> list[str]:
    """Markdown rows: endpoint, concurrency, workers, counts, req/s, p50, p99, vs floor."""
    lines = [
        "| endpoint | concurrency | workers | requests | failed | req/s | p50 ms | p99 ms "
        "| req/s vs floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row.result
        lines.append(
            f"| {row.label} | {row.concurrency} | {row.workers} | {r.requests} | {r.failures} "
            f"| {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.rps / row.floor.rps:.2f}x |"
        )
    return lines


def scaling_line(rows: list[HttpRow], concurrency: int = 16) -> str:
    """How `/predict` misses and the floor scale from 1 to 2 workers, in one sentence."""

    def rps(label: str, workers: int) -> float:
        return next(
            r.result.rps
            for r in rows
            if r.label == label and r.workers == workers and r.concurrency == concurrency
        )

    miss = "/predict, cache misses"
    return (
        f"From 1 to 2 workers at concurrency {concurrency}: `/predict` (misses) "
        f"{rps(miss, 1):.0f} -> {rps(miss, 2):.0f} req/s "
        f"({rps(miss, 2) / rps(miss, 1):.2f}x); echo floor {rps('echo (floor)', 1):.0f} -> "
        f"{rps('echo (floor)', 2):.0f} req/s "
        f"({rps('echo (floor)', 2) / rps('echo (floor)', 1):.2f}x)."
    )
