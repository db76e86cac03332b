"""HTTP figures of `make bench`: `/predict` against the bare BentoML echo floor.

Every service is started the same way (``bentoml serve`` through
:func:`apps.launch.start_service`) with the same settings file, then driven
by the same closed-loop generator (:mod:`bench.load`). The floor and the endpoint
run side by side: both services are up at once and each measurement is split into
rounds that alternate between them, so a slow spell of the machine hits both.

* the concurrency sweep (1, 16, 64): echo, `/predict` cache misses (every request a
  row never sent before, see :class:`Rows`), `/predict` cache hits (the same row);
* worker scaling: `/predict` misses at one concurrency with 1 and 2 workers;
* variants (batching, the Redis cache): `/predict` with other settings, with the
  floor measured again beside them.

Example::

    rows = serving_sweep(config, Rows(records), {"instances": [records[0]]}, total=3000)
    rows[0].label, rows[0].result.rps, rows[0].floor.rps
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.launch import child_env, free_port, start_service, wait_http
from bench.load import LoadResult, run_load

CONCURRENCY = (1, 16, 64)
ROUNDS = 3
ECHO = "echo (floor)"


@dataclass(frozen=True)
class HttpRow:
    """One measured endpoint at one concurrency, with the echo floor measured beside it."""

    label: str
    concurrency: int
    workers: int
    result: LoadResult
    floor: LoadResult


class Rows:
    """Request bodies of one row each that never repeat, so "cache misses" miss: the
    source rows in turn, then again with the first feature nudged by 1e-3 per lap
    (a different cache key, float32 included)."""

    def __init__(self, records: list[dict[str, float]]) -> None:
        self.records = records
        self.first = next(iter(records[0]))
        self.sent = 0

    def take(self, n: int) -> list[Any]:
        bodies = []
        for i in range(self.sent, self.sent + n):
            lap, row = divmod(i, len(self.records))
            record = dict(self.records[row])
            record[self.first] += lap * 1e-3
            bodies.append({"instances": [record]})
        self.sent += n
        return bodies


@dataclass(frozen=True)
class Target:
    """A service to start and the loads to drive at it: label -> bodies (None: fresh
    rows from :class:`Rows` for every request)."""

    service: str
    path: str
    loads: dict[str, list[Any] | None]
    env: dict[str, str]


ECHO_SERVICE = "bench.echo_service:Echo"
PREDICT_SERVICE = "serving.service:Trainsmart"


@contextmanager
def _started(config: Path, targets: list[Target], workers: int) -> Iterator[list[str]]:
    """Start every target's service; yield their base URLs; stop them all."""

    with ExitStack() as stack:
        urls = []
        for n, target in enumerate(targets):
            env = {
                **child_env(config),
                "TRAINSMART_SERVING__WORKERS": str(workers),
                **target.env,
            }
            name = target.service.split(":")[-1].lower()
            log = config.parent / f"{name}-{workers}w-{n}-{len(target.env)}.log"
            child = start_service(env, free_port(), log, target.service)
            stack.callback(child.stop)
            wait_http(child, "/readyz")
            urls.append(child.url)
        yield urls


def measure(
    config: Path,
    targets: list[Target],
    rows: Rows,
    concurrencies: tuple[int, ...],
    total: int,
    workers: int = 1,
) -> dict[tuple[str, int], LoadResult]:
    """Each target's loads at each concurrency, ``total`` requests each, in ``ROUNDS``
    rounds that alternate between the targets."""
    results: dict[tuple[str, int], list[LoadResult]] = {}
    with _started(config, targets, workers) as urls:
        for concurrency in concurrencies:
            for _ in range(ROUNDS):
                for target, url in zip(targets, urls, strict=True):
                    for label, bodies in target.loads.items():
                        part = run_load(
                            url + target.path,
                            bodies if bodies is not None else rows.take(total // ROUNDS),
                            concurrency=concurrency,
                            total=total // ROUNDS,
                        )
                        results.setdefault((label, concurrency), []).append(part)
    return {key: LoadResult.merge(parts) for key, parts in results.items()}


def _rows(
    measured: dict[tuple[str, int], LoadResult], workers: int, order: list[str]
) -> list[HttpRow]:
    """Table rows: the echo floor first at each concurrency, every other load against it."""
    rows = [
        HttpRow(label, c, workers, result, measured[(ECHO, c)])
        for (label, c), result in measured.items()
    ]
    rows.sort(key=lambda r: (r.concurrency, order.index(r.label)))
    return rows


def serving_sweep(config: Path, rows: Rows, hit_body: Any, *, total: int) -> list[HttpRow]:
    """Echo vs `/predict` (misses, hits) at each concurrency with 1 worker, then echo vs
    `/predict` misses at concurrency 16 with 2 workers."""
    echo = Target(ECHO_SERVICE, "/echo", {ECHO: None}, {})
    miss, hit = "/predict, cache misses", "/predict, cache hits"
    predict = Target(PREDICT_SERVICE, "/predict", {miss: None, hit: [hit_body]}, {})
    one = measure(config, [echo, predict], rows, CONCURRENCY, total)
    scaled = Target(PREDICT_SERVICE, "/predict", {miss: None}, {})
    two = measure(config, [echo, scaled], rows, (16,), total, workers=2)
    return _rows(one, 1, [ECHO, miss, hit]) + _rows(two, 2, [ECHO, miss])


def variant_rows(
    config: Path,
    rows: Rows,
    hit_body: Any,
    *,
    name: str,
    env: dict[str, str],
    concurrencies: tuple[int, ...],
    total: int,
) -> list[HttpRow]:
    """`/predict` misses and hits with settings ``env`` (e.g. the Redis cache, batching),
    beside the 1-worker echo floor measured again in the same rounds."""
    miss, hit = f"/predict, {name}, cache misses", f"/predict, {name}, cache hits"
    targets = [
        Target(ECHO_SERVICE, "/echo", {ECHO: None}, {}),
        Target(PREDICT_SERVICE, "/predict", {miss: None, hit: [hit_body]}, env),
    ]
    measured = measure(config, targets, rows, concurrencies, total)
    return _rows(measured, 1, [ECHO, miss, hit])


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
        f"({rps(miss, 2) / rps(miss, 1):.2f}x); echo floor {rps(ECHO, 1):.0f} -> "
        f"{rps(ECHO, 2):.0f} req/s "
        f"({rps(ECHO, 2) / rps(ECHO, 1):.2f}x)."
    )
