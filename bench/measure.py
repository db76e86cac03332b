"""Measure loads on servers in alternating rounds, with wrk; one markdown table of them.

Every server of a section is started once (:func:`bench.servers.started`), each load
warmed up with rows of its own (:class:`bench.wrk.Counters` keeps warm-up rows out of the
measured ones), then measured in ``Plan.rounds`` rounds of ``Plan.seconds`` that
alternate between the servers, so a slow spell of the machine hits them all. Each row is
compared with the row its load names in ``versus`` (the hand-written server, by default)
at the same connections. Each row also says how much of the machine's CPU other
processes took while it ran (:mod:`bench.cpu`): a row measured beside a busy neighbour
shows it.

Example::

    targets = [Target(handwritten(model, contract), [Load(HANDWRITTEN, "/predict", body)])]
    print("\\n".join(http_table(measure(targets, Plan(rounds=1), logs, Counters()))))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import CpuClock
from bench.servers import ServerSpec, started
from bench.wrk import Body, Counters, WrkResult, run_wrk

HANDWRITTEN = "hand-written: Starlette + uvicorn + ONNX Runtime"
"""The row every other row is compared with, unless its load says otherwise."""


@dataclass(frozen=True)
class Load:
    """One load to drive at a server: a table row's label, the path, the bodies; ``versus``
    labels the row it is compared with (at the same connections)."""

    label: str
    path: str
    body: Body
    connections: int = 16
    rows: int = 1
    versus: str = HANDWRITTEN


@dataclass(frozen=True)
class Target:
    """A server and the loads driven at it."""

    server: ServerSpec
    loads: list[Load]


@dataclass(frozen=True)
class Plan:
    """How long to measure: rounds of ``seconds`` per load, after ``warmup_s`` of warm-up."""

    rounds: int = 3
    seconds: float = 6.0
    warmup_s: float = 2.0
    threads: int = 1


@dataclass(frozen=True)
class HttpRow:
    """One measured load (its rounds merged) on a server with ``workers`` workers."""

    label: str
    workers: int
    load: Load
    result: WrkResult
    other_cpu: float = 0.0
    """Share of the machine's CPU (0..1) other processes used while this row ran."""

    @property
    def rows_per_s(self) -> float:
        return self.result.rps * self.load.rows


def measure(targets: list[Target], plan: Plan, logs: Path, counters: Counters) -> list[HttpRow]:
    """Start every target's server, warm each load up, then measure every load in
    ``plan.rounds`` rounds that alternate between the servers."""
    parts: dict[tuple[int, int], list[tuple[WrkResult, float]]] = {}
    with started([t.server for t in targets], logs) as children:

        def drive(url: str, load: Load, seconds: float, warmup: bool) -> WrkResult:
            return run_wrk(
                url + load.path,
                load.body,
                counters,
                seconds=seconds,
                connections=load.connections,
                threads=plan.threads,
                warmup=warmup,
            )

        for target, child in zip(targets, children, strict=True):
            for load in target.loads:
                drive(child.url, load, plan.warmup_s, True)
        for _ in range(plan.rounds):
            for t, (target, child) in enumerate(zip(targets, children, strict=True)):
                for n, load in enumerate(target.loads):
                    before = CpuClock.read()
                    result = drive(child.url, load, plan.seconds, False)
                    parts.setdefault((t, n), []).append(
                        (result, CpuClock.read().others_since(before))
                    )
    return [
        _merged(load.label, target.server.workers, load, parts[(t, n)])
        for t, target in enumerate(targets)
        for n, load in enumerate(target.loads)
    ]


def _merged(label: str, workers: int, load: Load, parts: list[tuple[WrkResult, float]]) -> HttpRow:
    """A row from its rounds; the others' CPU share weighted by each round's seconds."""
    result = WrkResult.merge([r for r, _ in parts])
    weighted = sum(r.seconds * share for r, share in parts)
    return HttpRow(
        label, workers, load, result, weighted / result.seconds if result.seconds else 0.0
    )


def _reference(rows: list[HttpRow], row: HttpRow) -> HttpRow | None:
    return next(
        (
            r
            for r in rows
            if r.label == row.load.versus and r.load.connections == row.load.connections
        ),
        None,
    )


def http_table(rows: Iterable[HttpRow]) -> list[str]:
    """Markdown: server, workers, connections, requests, failed, req/s, rows/s, p50, p99,
    rows/s vs the row it is compared with (the hand-written server), others' CPU."""
    rows = list(rows)
    lines = [
        "| server | workers | connections | requests | failed | req/s | rows/s | p50 ms "
        "| p99 ms | vs hand-written | other CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r, ref = row.result, _reference(rows, row)
        ratio = f"{row.rows_per_s / ref.rows_per_s:.2f}x" if ref and ref.rows_per_s else "-"
        failed = f"**{r.failed}**" if r.failed else "0"
        lines.append(
            f"| {row.label} | {row.workers} | {row.load.connections} | {r.requests:,} "
            f"| {failed} | {r.rps:,.0f} | {row.rows_per_s:,.0f} | {r.p50_ms:.1f} "
            f"| {r.p99_ms:.1f} | {ratio} | {row.other_cpu:.0%} |"
        )
    return lines
