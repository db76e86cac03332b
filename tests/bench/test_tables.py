"""The HTTP table and its conclusions are computed from the measured figures; a short
real measurement alternates between servers and merges its rounds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from apps.settings import Settings
from bench.goals import (
    BENTO_ECHO,
    BENTO_NATIVE,
    BENTO_QUIET,
    HITS,
    MISSES,
    UVICORN_ECHO,
    columnar_labels,
    conclusions,
)
from bench.http import Inputs, serving_targets
from bench.measure import HANDWRITTEN, HttpRow, Load, Plan, Target, http_table, measure
from bench.servers import handwritten, uvicorn_echo
from bench.wrk import Counters, Fresh, WrkResult
from tests.conftest import BundleFactory, fair_contract, fair_row
from tests.services import require_binary
from trainsmart.registry import Registry

HW_COLS, COL_MISSES, COL_HITS = columnar_labels(1000)


def row(
    label: str, rps: float, p99_ms: float = 5.0, workers: int = 1, failed: int = 0, rows: int = 1
) -> HttpRow:
    """A row whose load ran 10 s at ``rps``; a histogram whose p99 is ``p99_ms``."""
    requests = round(rps * 10)
    histogram = (
        (1000, requests - requests // 100 - 1),
        (round(p99_ms * 1000), requests // 100 + 1),
    )
    versus = HW_COLS if rows > 1 else HANDWRITTEN
    load = Load(label, "/x", Fresh(fair_row()), rows=rows, versus=versus)
    return HttpRow(label, workers, load, WrkResult(requests, failed, 0, 10.0, histogram))


def run(miss_rps: float = 2400, p99: float = 12.0, two_workers: float = 4000) -> list[HttpRow]:
    return [
        row(HANDWRITTEN, 4000, p99_ms=4.0),
        row(HW_COLS, 100, rows=1000),
        row(UVICORN_ECHO, 5000),
        row(BENTO_ECHO, 1000),
        row(BENTO_QUIET, 1250),
        row(BENTO_NATIVE, 500),
        row(MISSES, miss_rps, p99_ms=p99),
        row(HITS, 3000),
        row(COL_MISSES, 60, rows=1000),
        row(COL_HITS, 80, rows=1000),
        row(BENTO_ECHO, 1800, workers=2),
        row(MISSES, two_workers, workers=2),
    ]


def test_conclusions_state_each_goal_from_the_figures() -> None:
    text = "\n".join(conclusions(run(), workers=2))
    assert "2,400 req/s = 0.60x the hand-written server's 4,000 (goal >= 0.5x: met)" in text
    assert "p99 12.0 ms (goal <= 25 ms: met; hand-written 4.0 ms)" in text
    assert "Cache hits: 3,000 req/s = 1.25x the misses (goal >= 1x: met)" in text
    assert "4,000 req/s = 1.67x one worker (goal >= 1.6x: met)" in text
    assert "echo floor 1,000 -> 1,800 req/s (1.80x)" in text
    assert "60,000 rows/s (cache misses) = 0.60x the hand-written server's 100,000" in text
    assert "mounted 1,000 req/s = 0.20x the same app under plain uvicorn (5,000)" in text
    assert "No request failed" in text and "missed" not in text


def test_conclusions_flip_when_the_figures_miss() -> None:
    rows = run(miss_rps=1000, p99=40.0, two_workers=1200)
    rows[8] = row(COL_MISSES, 20, rows=1000, failed=7)
    text = "\n".join(conclusions(rows, workers=2))
    assert "= 0.25x the hand-written server's 4,000 (goal >= 0.5x: **missed**)" in text
    assert "p99 40.0 ms (goal <= 25 ms: **missed**" in text
    assert "Cache hits: 3,000 req/s = 3.00x the misses" in text
    assert "1.20x one worker (goal >= 1.6x: **missed**)" in text
    assert "= 0.20x the hand-written server's 100,000 (goal >= 0.5x: **missed**)" in text
    assert f"**Failed requests**, counted in those rows' rates: {COL_MISSES}" in text


def test_rows_measured_beside_busy_neighbours_are_flagged() -> None:
    rows = run()
    assert "Disturbed" not in "\n".join(conclusions(rows, workers=2))
    rows[6] = replace(rows[6], other_cpu=0.35)
    text = "\n".join(conclusions(rows, workers=2))
    assert f"during 1 of 12 rows (up to 35%, {MISSES}, 1 w); rerun on a quiet machine" in text
    assert http_table(rows)[2 + 6].endswith("| 35% |")


def test_conclusions_leave_out_what_was_not_measured() -> None:
    assert conclusions([row(HANDWRITTEN, 4000)], workers=2) == [
        "- No request failed (no 4xx/5xx answer, socket error or timeout)."
    ]


def test_table_compares_each_row_with_the_hand_written_server() -> None:
    table = http_table(run())
    assert table[0].startswith("| server | workers | connections |")
    assert len(table) == 2 + 12
    misses = next(line for line in table if line.startswith(f"| {MISSES} | 1 |"))
    assert "| 24,000 |" in misses and "| 2,400 | 2,400 |" in misses and "| 0.60x |" in misses
    columnar = next(line for line in table if line.startswith(f"| {COL_MISSES} |"))
    assert "| 60 | 60,000 |" in columnar and columnar.endswith("| 0.60x | 0% |")
    failed = http_table([row(HANDWRITTEN, 10, failed=3)])[2]
    assert "| **3** |" in failed


def test_measure_alternates_rounds_and_merges_them(
    make_bundle: BundleFactory, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    require_binary("wrk", apt_package="wrk")
    bundle = registry.get("fair", make_bundle())
    fresh = Fresh(fair_row(occupation=3.0, occupation_husb=4.0))
    targets = [
        Target(
            handwritten(bundle.model_path, bundle.contract()),
            [Load(HANDWRITTEN, "/predict", fresh, 4)],
        ),
        Target(uvicorn_echo(), [Load(UVICORN_ECHO, "/echo", fresh, 4)]),
    ]
    rows = measure(targets, Plan(rounds=2, seconds=1, warmup_s=1), tmp_path, Counters())
    assert [r.label for r in rows] == [HANDWRITTEN, UVICORN_ECHO]
    for measured in rows:
        assert measured.result.failed == 0 and measured.result.requests > 50
        assert 1.8 <= measured.result.seconds <= 2.6  # two rounds of one second
    assert "| 1.00x |" in http_table(rows)[2]
    assert all(0.0 <= r.other_cpu <= 1.0 for r in rows)


def test_the_serving_section_has_every_row_of_issue_j(tmp_path: Path) -> None:
    records = [fair_row(occupation=3.0, occupation_husb=4.0, age=float(a)) for a in range(1200)]
    given = Inputs(tmp_path / "s.yaml", tmp_path / "m.onnx", fair_contract(), records)
    planned = [
        (load.label, target.server.workers, load.rows, type(load.body).__name__)
        for target in serving_targets(given, workers=2)
        for load in target.loads
    ]
    assert planned == [
        (HANDWRITTEN, 1, 1, "Fresh"),
        (HW_COLS, 1, 1000, "Fresh"),
        (UVICORN_ECHO, 1, 1, "Fresh"),
        (BENTO_ECHO, 1, 1, "Fresh"),
        (BENTO_QUIET, 1, 1, "Fresh"),
        (BENTO_NATIVE, 1, 1, "Fresh"),
        (MISSES, 1, 1, "Fresh"),
        (HITS, 1, 1, "Fixed"),
        (COL_MISSES, 1, 1000, "Fresh"),
        (COL_HITS, 1, 1000, "Fixed"),
        (BENTO_ECHO, 2, 1, "Fresh"),
        (MISSES, 2, 1, "Fresh"),
    ]
