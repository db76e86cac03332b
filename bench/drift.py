"""Drift figures of `make bench`: how fast a check is, and whether its verdicts can be trusted.

Speed: one check of a 10,000-row window with 20 numeric features against a
5,000-row reference, three ways side by side: the monitor's hot path
(:meth:`DriftDetector.run`, Evidently's stat tests per column), Evidently's preset
run naively (:meth:`DriftDetector.report`), and the bare statistic in scipy (the
floor). Then how the hot path grows with window rows and feature count.

Validity (streams of real windows, ``drift_share`` tuned and held out): bench/drift_validity.py,
re-exported here. Then `/predict` while drift checks run at the monitor's CPU priority
and at the service's. Every conclusion under a table is written from that table's
figures in the same run (here :func:`contention_conclusion`): none is fixed text.

Example::

    lines = speed_section() + validity_section()
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from bench.drift_validity import Scenario, scenarios, stream_rates, validity_section
from bench.drift_validity import contract_of as _contract
from bench.load import LoadResult, run_load
from monitoring.drift.detector import DriftDetector
from monitoring.drift.options import DriftOptions
from monitoring.settings import MonitoringSettings

__all__ = [
    "Scenario",
    "contention_conclusion",
    "scenarios",
    "serving_during_checks",
    "speed_section",
    "stream_rates",
    "validity_section",
]


def _timed(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up (imports, caches)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return float(np.median(samples))


def _synthetic(rows: int, features: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    means = np.linspace(-2, 2, features) + shift
    data = rng.normal(means, 1.0 + np.arange(features) / features, size=(rows, features))
    return pd.DataFrame(data, columns=[f"f{i}" for i in range(features)])


def _scipy_floor(reference: pd.DataFrame, current: pd.DataFrame) -> list[float]:
    """The same statistic Evidently picks here (Wasserstein distance normed by the
    reference's std), straight from scipy."""

    return [
        wasserstein_distance(reference[c].to_numpy(), current[c].to_numpy()) / reference[c].std()
        for c in reference.columns
    ]


def speed_section(repeats: int = 5) -> list[str]:
    reference, window = _synthetic(5_000, 20, 0), _synthetic(10_000, 20, 1, shift=0.05)
    detector = DriftDetector(reference, _contract(list(reference.columns)), DriftOptions(0.5))
    fast = _timed(lambda: detector.run(window), repeats)
    naive = _timed(lambda: detector.report(window), max(2, repeats // 2))
    floor = _timed(lambda: _scipy_floor(reference, window), repeats)
    same = (
        detector.run(window).to_dict()["features"] == detector.report(window).to_dict()["features"]
    )
    lines = [
        "## Drift check speed (10,000-row window, 20 numeric features, 5,000-row reference)",
        "",
        "| path | median s | vs hot path |",
        "|---|---|---|",
        f"| monitor hot path (Evidently's stat tests per column) | {fast:.3f} | 1.00x |",
        f"| Evidently DataDriftPreset report, run naively | {naive:.3f} | {naive / fast:.1f}x |",
        f"| bare statistic in scipy (floor) | {floor:.3f} | {floor / fast:.2f}x |",
        "",
        f"Target: at most 0.2 s for the hot path: **{'met' if fast <= 0.2 else 'missed'}** "
        f"({fast:.3f} s). The hot path and the report give identical per-feature verdicts on "
        f"this window: **{same}**. The full report is built only when a window drifts.",
        "",
        "How the hot path grows (median s per check, reference 5,000 rows):",
        "",
        "| window rows \\ features | 5 | 20 | 50 |",
        "|---|---|---|---|",
    ]
    for rows in (1_000, 10_000, 100_000):
        cells = []
        for features in (5, 20, 50):
            ref, cur = _synthetic(5_000, features, 2), _synthetic(rows, features, 3)
            det = DriftDetector(ref, _contract(list(ref.columns)), DriftOptions(0.5))
            cells.append(f"{_timed(partial(det.run, cur), 3):.3f}")
        lines.append(f"| {rows:,} | " + " | ".join(cells) + " |")
    return lines


CHECK_LOOP = """
import sys, time
sys.path.insert(0, {root!r})
from bench.drift import _contract, _synthetic
from monitoring.drift.detector import DriftDetector
from monitoring.drift.options import DriftOptions
from monitoring.settings import MonitoringSettings
from monitoring.runners.process import lower_priority
lower_priority({niceness})
ref, cur = _synthetic(5000, 20, 0), _synthetic(10000, 20, 1)
detector = DriftDetector(ref, _contract(list(ref.columns)), DriftOptions(0.5))
checks = 0
deadline = time.monotonic() + {seconds}
while time.monotonic() < deadline:
    detector.run(cur)
    checks += 1
print(checks)
"""


def contention_conclusion(
    alone: LoadResult, niced: LoadResult, plain: LoadResult, niceness: int
) -> str:
    """What the three rows say about the monitor's lower priority, from their figures."""
    figures = (
        f"With the checks at nice {niceness}, `/predict` ran at {niced.rps:.0f} req/s, p99 "
        f"{niced.p99_ms:.1f} ms; at nice 0, {plain.rps:.0f} req/s, p99 {plain.p99_ms:.1f} ms "
        f"(alone: {alone.rps:.0f} req/s, p99 {alone.p99_ms:.1f} ms)."
    )
    faster, steadier = niced.rps >= plain.rps, niced.p99_ms <= plain.p99_ms
    if faster and steadier:
        verdict = "The lower priority kept part of the contention off the service in this run."
    elif not faster and not steadier:
        verdict = (
            "In this run the lower priority did not keep contention off the service (both "
            "figures were no better than at nice 0)."
        )
    else:
        better, worse = ("throughput", "p99") if faster else ("p99", "throughput")
        verdict = f"Mixed in this run: a better {better} at the lower priority, a worse {worse}."
    return f"{figures} {verdict}"


def serving_during_checks(
    url: str, bodies: list[object], root: str, total: int = 2000, concurrency: int = 4
) -> list[str]:
    """`/predict` latency alone, then while a separate process runs drift checks
    back to back (10,000 x 20 windows), on the same machine."""

    alone = run_load(url, bodies, concurrency=concurrency, total=total)
    seconds = max(5.0, alone.seconds * 3)
    rows = [f"| alone | - | {alone.rps:.0f} | {alone.p50_ms:.1f} | {alone.p99_ms:.1f} |"]
    default = MonitoringSettings().niceness
    during: dict[int, LoadResult] = {}
    for niceness, label in ((default, "default, monitoring.niceness"), (0, "niceness 0")):
        checker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHECK_LOOP.format(root=root, seconds=seconds, niceness=niceness),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)  # imports done, checks running
        during[niceness] = result = run_load(url, bodies, concurrency=concurrency, total=total)
        out, _ = checker.communicate(timeout=seconds + 60)
        rows.append(
            f"| during drift checks ({label}) | {out.strip()} | {result.rps:.0f} "
            f"| {result.p50_ms:.1f} | {result.p99_ms:.1f} |"
        )
    return [
        "## `/predict` while the monitor checks drift",
        "",
        f"The same {total} requests at concurrency {concurrency}, alone and while a "
        "separate process ran drift checks of a 10,000 x 20 window back to back, at the "
        f"monitor's CPU priority (nice {default}, the default of `monitoring.niceness`) and "
        "at the service's (nice 0). They share nothing but the SQLite file; on this 2-core "
        "machine the checks, the service and the load generator share the cores.",
        "",
        "| phase | checks run | req/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
        *rows,
        "",
        contention_conclusion(alone, during[default], during[0], default),
    ]
