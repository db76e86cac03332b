"""The HTTP table's row labels, the goals of issue J, and the conclusions drawn from a run.

Every sentence is computed from the measured rows: a ratio, the figure behind it and
whether the goal is met. A row the run did not measure leaves its sentence out.

Example::

    conclusions(rows, workers=2)
    # ["/predict, cache misses, 1 worker: 2,310 req/s = 0.55x the hand-written ...", ...]
"""

from __future__ import annotations

from bench.measure import HANDWRITTEN, HttpRow

UVICORN_ECHO = "FastAPI echo, plain uvicorn"
BENTO_ECHO = "BentoML + mounted FastAPI echo"
BENTO_QUIET = "BentoML + mounted FastAPI echo, access log and metrics off"
BENTO_NATIVE = "BentoML native `@bentoml.api` echo"
MISSES = "trainsmart /predict, cache misses"
HITS = "trainsmart /predict, cache hits"

MISS_RATIO = 0.5
"""/predict misses at 1 worker, as a share of the hand-written server's requests/s."""
P99_MS = 25.0
"""p99 latency of /predict misses at 1 worker."""
HITS_RATIO = 1.0
"""Cache hits at least as fast as misses."""
SCALING = 1.6
"""workers = cores vs one worker, /predict misses."""
COLUMNAR_RATIO = 0.5
"""Rows/s of a columnar /predict (cache misses) vs the hand-written server."""


def columnar_labels(rows: int) -> tuple[str, str, str]:
    """Labels of the columnar rows: hand-written, /predict misses, /predict hits."""
    block = f"columnar {rows:,} rows"
    return (
        f"hand-written, {block}",
        f"trainsmart /predict, {block}, cache misses",
        f"trainsmart /predict, {block}, cache hits",
    )


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def find(
    rows: list[HttpRow], label: str, workers: int = 1, connections: int = 16
) -> HttpRow | None:
    """The row of ``label`` at ``workers`` and ``connections``, if measured."""
    return next(
        (
            r
            for r in rows
            if r.label == label and r.workers == workers and r.load.connections == connections
        ),
        None,
    )


def _floors(rows: list[HttpRow]) -> list[str]:
    plain, mounted = find(rows, UVICORN_ECHO), find(rows, BENTO_ECHO)
    quiet, native = find(rows, BENTO_QUIET), find(rows, BENTO_NATIVE)
    if not (plain and mounted and quiet and native) or not plain.result.rps:
        return []
    base = plain.result.rps
    return [
        f"- What BentoML costs an echo: mounted {mounted.result.rps:,.0f} req/s = "
        f"{mounted.result.rps / base:.2f}x the same app under plain uvicorn ({base:,.0f}); "
        f"access log and metrics off {quiet.result.rps / base:.2f}x; native `@bentoml.api` "
        f"{native.result.rps / base:.2f}x."
    ]


def _scaling(rows: list[HttpRow], workers: int) -> list[str]:
    one, many = find(rows, MISSES), find(rows, MISSES, workers)
    if not (one and many and one.result.rps):
        return []
    ratio = many.result.rps / one.result.rps
    line = (
        f"- {workers} workers (= cores): /predict misses {many.result.rps:,.0f} req/s = "
        f"{ratio:.2f}x one worker (goal >= {SCALING}x: {_met(ratio >= SCALING)})"
    )
    floor_one, floor_many = find(rows, BENTO_ECHO), find(rows, BENTO_ECHO, workers)
    if floor_one and floor_many and floor_one.result.rps:
        line += (
            f"; the BentoML echo floor {floor_one.result.rps:,.0f} -> "
            f"{floor_many.result.rps:,.0f} req/s "
            f"({floor_many.result.rps / floor_one.result.rps:.2f}x)"
        )
    return [line + "."]


def _columnar(rows: list[HttpRow]) -> list[str]:
    block = next((r for r in rows if r.label.startswith("hand-written, columnar")), None)
    if block is None:
        return []
    _, misses_label, hits_label = columnar_labels(block.load.rows)
    misses, hits = find(rows, misses_label), find(rows, hits_label)
    if misses is None or not block.rows_per_s:
        return []
    ratio = misses.rows_per_s / block.rows_per_s
    line = (
        f"- Columnar, {block.load.rows:,} rows per request: /predict {misses.rows_per_s:,.0f} "
        f"rows/s (cache misses) = {ratio:.2f}x the hand-written server's "
        f"{block.rows_per_s:,.0f} (goal >= {COLUMNAR_RATIO}x: {_met(ratio >= COLUMNAR_RATIO)})"
    )
    if hits is not None:
        line += f"; every row a cache hit: {hits.rows_per_s / block.rows_per_s:.2f}x"
    return [line + "."]


def _failures(rows: list[HttpRow]) -> list[str]:
    failed = [r for r in rows if r.result.failed]
    if not failed:
        return ["- No request failed (no 4xx/5xx answer, socket error or timeout)."]
    listed = "; ".join(
        f"{r.label} ({r.workers} w, {r.load.connections} c): {r.result.failed:,} of "
        f"{r.result.requests:,} ({r.result.status_errors:,} 4xx/5xx)"
        for r in failed
    )
    return [f"- **Failed requests**, counted in those rows' rates: {listed}."]


BUSY_NEIGHBOURS = 0.10
"""Share of the machine's CPU other processes may take before the figures are flagged."""


def _neighbours(rows: list[HttpRow]) -> list[str]:
    busy = [r for r in rows if r.other_cpu >= BUSY_NEIGHBOURS]
    if not busy:
        return []
    worst = max(busy, key=lambda r: r.other_cpu)
    return [
        f"- **Disturbed**: other processes took {BUSY_NEIGHBOURS:.0%} or more of the machine's "
        f"CPU during {len(busy)} of {len(rows)} rows (up to {worst.other_cpu:.0%}, "
        f"{worst.label}, {worst.workers} w); rerun on a quiet machine before comparing them."
    ]


def conclusions(rows: list[HttpRow], workers: int) -> list[str]:
    """Sentences computed from ``rows``: each goal of issue J with its figure, then what
    BentoML itself costs, any failures, and rows disturbed by other processes."""
    lines: list[str] = []
    hw, misses, hits = find(rows, HANDWRITTEN), find(rows, MISSES), find(rows, HITS)
    if hw and misses and hw.result.rps:
        ratio = misses.result.rps / hw.result.rps
        lines.append(
            f"- /predict, cache misses, 1 worker: {misses.result.rps:,.0f} req/s = "
            f"{ratio:.2f}x the hand-written server's {hw.result.rps:,.0f} "
            f"(goal >= {MISS_RATIO}x: {_met(ratio >= MISS_RATIO)}); p99 "
            f"{misses.result.p99_ms:.1f} ms (goal <= {P99_MS:g} ms: "
            f"{_met(misses.result.p99_ms <= P99_MS)}; hand-written {hw.result.p99_ms:.1f} ms)."
        )
    if misses and hits and misses.result.rps:
        ratio = hits.result.rps / misses.result.rps
        lines.append(
            f"- Cache hits: {hits.result.rps:,.0f} req/s = {ratio:.2f}x the misses "
            f"(goal >= {HITS_RATIO:g}x: {_met(ratio >= HITS_RATIO)})."
        )
    lines += _scaling(rows, workers) + _columnar(rows) + _floors(rows)
    return lines + _failures(rows) + _neighbours(rows)
