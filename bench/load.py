"""A bounded closed-loop HTTP load generator in Python (loopback only).

Only the drift section's "/predict while the monitor checks drift" uses it now; the HTTP
tables are measured with wrk (bench/wrk.py), which does not share the server's cores
with a Python client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    seconds: float
    p50_ms: float
    p99_ms: float
    latencies_ms: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @classmethod
    def merge(cls, parts: list[LoadResult]) -> LoadResult:
        """Rounds of the same measurement as one: requests per second over their summed
        time, percentiles over every request's latency."""
        latencies = np.concatenate([np.asarray(p.latencies_ms) for p in parts])
        return cls(
            sum(p.requests for p in parts),
            sum(p.failures for p in parts),
            sum(p.seconds for p in parts),
            float(np.percentile(latencies, 50)),
            float(np.percentile(latencies, 99)),
            tuple(latencies.tolist()),
        )


async def _run(url: str, bodies: list[Any], concurrency: int, total: int) -> LoadResult:
    latencies: list[float] = []
    failures = 0
    remaining = total
    # idle connections are dropped before the server's 5 s keep-alive timeout would close
    # them under a request in flight (a ReadError, not the server's fault)
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                body = bodies[remaining % len(bodies)]
                started = time.perf_counter()
                try:
                    response = await client.post(url, json=body)
                    failed = response.status_code != 200
                except httpx.TransportError:  # counted, not fatal: the table shows it
                    failed = True
                latencies.append(time.perf_counter() - started)
                failures += failed

        for i in range(min(20, total)):  # warm-up, not counted
            await client.post(url, json=bodies[-1 - i % len(bodies)])
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    lat = np.array(latencies) * 1000
    return LoadResult(
        len(latencies),
        failures,
        seconds,
        float(np.percentile(lat, 50)),
        float(np.percentile(lat, 99)),
        tuple(lat.tolist()),
    )


def run_load(url: str, bodies: list[Any], *, concurrency: int, total: int) -> LoadResult:
    """POST ``total`` requests to ``url`` (cycling ``bodies``), ``concurrency`` in flight."""
    return asyncio.run(_run(url, bodies, concurrency, total))
