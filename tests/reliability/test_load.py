"""The full load test (`make test-all`): 20,000 `/predict` requests at concurrency 32 on
the real service (2 workers, Redis cache) with feedback for every 5th, while v2 is
promoted, Redis is killed and restarted, and the monitor is killed and restarted.

Nothing may be lost or mixed up: no failed request; every answer's probabilities are the
ones its version's model gives for that row (a cached value from the other version would
show); the input log holds exactly one row per row served; every feedback label lands.
Latency p50/p99 is reported per phase; with ``TRAINSMART_RELIABILITY_OUT`` set, the
figures are written there as Markdown (docs/reliability.md holds the last run).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from apps.launch import child_env, free_port, start_monitor, start_service, wait_http
from apps.settings import Settings
from serving.runtime import load_model
from tests.conftest import BundleFactory, fair_row
from tests.services import RedisServer, require_binary
from trainsmart.registry import Registry
from trainsmart.state import InputLog

pytestmark = [pytest.mark.full, pytest.mark.server]

TOTAL, CONCURRENCY, FEEDBACK_EVERY = 20_000, 32, 5
EVENTS = {4_000: "promote v2", 8_000: "kill Redis", 11_000: "restart Redis",
          14_000: "kill monitor", 16_000: "restart monitor"}  # fmt: skip


@dataclass
class Answer:
    sent: float
    seconds: float
    status: int
    row: int
    body: dict


async def _traffic(url: str, rows: list[dict], on_count: dict) -> tuple[list[Answer], int]:
    answers: list[Answer] = []
    labels = 0
    sent = 0
    limits = httpx.Limits(max_connections=CONCURRENCY, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as client:

        async def worker() -> None:
            nonlocal sent, labels
            while sent < TOTAL:
                n = sent
                sent += 1
                if n in on_count:
                    await asyncio.to_thread(on_count[n])
                started = time.monotonic()
                response = await client.post("/predict", json={"instances": [rows[n % 500]]})
                body = response.json() if response.status_code == 200 else {}
                answers.append(
                    Answer(started, time.monotonic() - started, response.status_code, n, body)
                )
                if body and n % FEEDBACK_EVERY == 0:
                    feedback = {"request_id": body["request_id"], "label": str(n % 2)}
                    answer = await client.post("/feedback", json=feedback)
                    assert answer.status_code == 200, answer.text
                    labels += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return answers, labels


def test_twenty_thousand_requests_through_faults_lose_nothing(
    settings: Settings,
    registry: Registry,
    make_bundle: BundleFactory,
    input_log: InputLog,
    tmp_path: Path,
) -> None:
    v1 = make_bundle(bias=-2.0)
    redis = RedisServer(require_binary("redis-server", "redis-server"), tmp_path / "redis")
    redis.start()
    env = child_env(
        None,
        TRAINSMART_DATA_DIR=str(settings.data_dir),
        TRAINSMART_MODEL_NAME="fair",
        TRAINSMART_SERVING__WORKERS="2",
        TRAINSMART_SERVING__RELOAD_INTERVAL_S="0.5",
        TRAINSMART_SERVING__CACHE_BACKEND="redis",
        TRAINSMART_SERVING__REDIS_URL=redis.url,
        TRAINSMART_MONITORING__RETRAIN_ENABLED="false",
    )
    service = start_service(env, free_port(), tmp_path / "service.log")
    monitor_port = free_port()
    monitors = [start_monitor(env, monitor_port, tmp_path / "monitor-0.log")]
    moments: dict[str, float] = {}

    def event(name: str) -> None:
        moments[name] = time.monotonic()
        if name == "promote v2":
            make_bundle(bias=2.0)
        elif name == "kill Redis":
            redis.kill()
        elif name == "restart Redis":
            redis.start()
        elif name == "kill monitor":
            monitors[-1].process.kill()
        elif name == "restart monitor":
            monitors.append(start_monitor(env, monitor_port, tmp_path / "monitor-1.log"))

    rows = [fair_row(age=float(18 + i % 50), educ=float(9 + i % 11)) for i in range(500)]
    try:
        wait_http(service, "/readyz")
        wait_http(monitors[0], "/metrics")
        started = time.monotonic()
        hooks = {n: (lambda name=name: event(name)) for n, name in EVENTS.items()}
        answers, labels = asyncio.run(_traffic(service.url, rows, hooks))
        elapsed = time.monotonic() - started
        wait_http(monitors[-1], "/metrics")
    finally:
        service.stop()
        for monitor in monitors:
            monitor.stop()
        redis.stop()

    failed = [a for a in answers if a.status != 200]
    assert not failed, f"{len(failed)} failed: {sorted({a.status for a in failed})}"
    v2 = next(v for v in {a.body["version"] for a in answers} if v != v1)
    models = {v: load_model(registry, "fair", v, settings.serving) for v in (v1, v2)}
    for a in answers:  # each answer is its own version's, cached or not
        x = models[a.body["version"]].contract.to_matrix([rows[a.row % 500]])
        expected = models[a.body["version"]].predict_proba(x)[0]
        got = [a.body["predictions"][0]["probabilities"][c] for c in ("0", "1")]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert input_log.count("fair") == TOTAL  # one logged row per row served, hits included
    logged_ids = {r.request_id for r in input_log.labelled("fair", TOTAL)}
    assert len(logged_ids) == labels  # every label landed on its own request
    cached = sum(a.body["predictions"][0]["cached"] for a in answers)
    assert cached > TOTAL / 4, "the cache hardly answered; the faults prove little"
    _report(answers, moments, started, elapsed, labels, cached)


def _report(
    answers: list[Answer],
    moments: dict[str, float],
    started: float,
    elapsed: float,
    labels: int,
    cached: int,
) -> None:
    """The figures as Markdown, to ``$TRAINSMART_RELIABILITY_OUT`` when set."""
    now = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    order = sorted(moments.items(), key=lambda kv: kv[1])
    edges = [("steady (before any fault)", started), *order, ("end", float("inf"))]
    lines = [
        "# Reliability: the last full load test",
        "",
        f"Written by `tests/reliability/test_load.py` on {now} "
        "UTC. Rerun it with `make reliability` (or `make test-all`, which runs it without "
        "rewriting this file). The other reliability tests (fuzzing, hostile inputs, crash "
        "and faults) are in `tests/reliability/` and run in `make test`.",
        "",
        "Scenario: the real service (`bentoml serve`, 2 workers, Redis cache), the real "
        "monitor, loopback only. Events at fixed request counts: "
        + ", ".join(f"{name} at request {n:,}" for n, name in EVENTS.items())
        + ". Latency is measured by the client (same machine, 2 cores shared by the "
        "service, Redis, the monitor and the load generator).",
        "",
        f"{len(answers):,} requests at concurrency {CONCURRENCY} in {elapsed:.0f} s "
        f"({len(answers) / elapsed:.0f} req/s), 2 workers, Redis cache; {labels:,} feedback "
        f"labels; {cached:,} answers from the cache. Failed: 0. Logged rows = rows served; "
        "every label landed; every answer matched its version's model.",
        "",
        "| phase (from the event to the next) | requests | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for (name, start), (_, end) in itertools.pairwise(edges):
        ms = np.array([a.seconds for a in answers if start <= a.sent < end]) * 1000
        if len(ms):
            lines.append(
                f"| {name} | {len(ms):,} | {np.percentile(ms, 50):.1f} "
                f"| {np.percentile(ms, 99):.1f} |"
            )
    out = os.environ.get("TRAINSMART_RELIABILITY_OUT")
    if out:
        Path(out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
