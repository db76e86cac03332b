"""Drift figures of `make bench`: how fast a check is, and whether its verdicts can be trusted.

Speed: one check of a 10,000-row window with 20 numeric features against a
5,000-row reference, three ways side by side: the monitor's hot path
(:meth:`DriftDetector.run`, Evidently's stat tests per column), Evidently's preset
run naively (:meth:`DriftDetector.report`), and the bare statistic in scipy (the
floor). Then how the hot path grows with window rows and feature count.

Validity: streams of windows drawn from real data (no synthetic drift): 10 windows
from the same population as the reference, then 5 from a real subpopulation
(the onset). False alarms = drifted flags on same-population windows; detection =
a flag within 2 windows of the onset. ``drift_share`` is chosen on the tuning
scenarios (statsmodels' Fair data) and then reported on held-out scenarios
(statsmodels' RAND Health Insurance Experiment data) that played no part in it.

Example::

    lines = speed_section() + validity_section()
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import wasserstein_distance

from bench.load import run_load
from monitoring.drift.detector import DriftDetector
from monitoring.drift.options import DriftOptions
from monitoring.settings import MonitoringSettings
from trainsmart.registry.contract import FeatureSpec, InputContract


def _contract(columns: list[str], categorical: tuple[str, ...] = ()) -> InputContract:
    features = [
        FeatureSpec(name=c, kind="categorical" if c in categorical else "numeric") for c in columns
    ]
    return InputContract(features=features, classes=["0", "1"])


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


@dataclass(frozen=True)
class Scenario:
    name: str
    frame: pd.DataFrame
    shifted: pd.Series
    """Rows of the real subpopulation the stream shifts to."""
    categorical: tuple[str, ...] = ()


def scenarios() -> tuple[list[Scenario], list[Scenario]]:
    """(tuning scenarios on the Fair data, held-out scenarios on the RAND HIE data)."""

    fair = sm.datasets.fair.load_pandas().data.drop(columns=["affairs"])
    hie = sm.datasets.randhie.load_pandas().data
    cats = ("occupation", "occupation_husb")
    tuning = [
        Scenario("fair: married 16.5+ years", fair, fair.yrs_married >= 16.5, cats),
        Scenario("fair: 16+ years of education", fair, fair.educ >= 16, cats),
    ]
    held_out = [
        Scenario("hie: a chronic disease count of 16+", hie, hie.disea >= 16),
        Scenario("hie: physical limitation", hie, hie.physlm > 0),
        Scenario("hie: income in the top third", hie, hie.lpi >= hie.lpi.quantile(2 / 3)),
    ]
    return tuning, held_out


def stream_rates(
    scenario: Scenario, drift_share: float, seeds: int = 20, window: int = 300
) -> tuple[float, float, float]:
    """(false-alarm rate, share of streams flagged within 2 windows of the onset, mean
    delay in windows of the first flag after the onset)."""
    contract = _contract(list(scenario.frame.columns), scenario.categorical)
    alarms = checks = caught = 0
    delays: list[int] = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(scenario.frame))
        reference = scenario.frame.iloc[order[:1_000]]
        rest = scenario.frame.iloc[order[1_000:]]
        shifted = rest[scenario.shifted.loc[rest.index]]
        detector = DriftDetector(reference, contract, DriftOptions(drift_share))
        for k in range(10):
            alarms += detector.run(rest.iloc[k * window : (k + 1) * window]).dataset_drift
            checks += 1
        flags = [
            detector.run(
                shifted.sample(window, replace=len(shifted) < window, random_state=seed + k)
            ).dataset_drift
            for k in range(5)
        ]
        first = flags.index(True) if True in flags else None
        caught += first is not None and first <= 1
        delays.append(5 if first is None else first)
    return alarms / checks, caught / seeds, float(np.mean(delays))


def validity_section(seeds: int = 20) -> list[str]:
    tuning, held_out = scenarios()
    candidates = (0.3, 0.5)
    lines = [
        "## Drift validity on real data (windows of 300 rows, reference 1,000 rows)",
        "",
        f"{seeds} streams per scenario: 10 same-population windows, then 5 from the "
        "subpopulation (the onset). Targets: false alarms at most 5%; flagged within 2 "
        "windows of the onset.",
        "",
        "| set | scenario | drift_share | false alarms | flagged within 2 windows | mean delay |",
        "|---|---|---|---|---|---|",
    ]
    scores: dict[float, tuple[float, float, float]] = {}
    for share in candidates:
        worst_far, worst_caught, delays = 0.0, 1.0, []
        for scenario in tuning:
            far, caught, delay = stream_rates(scenario, share, seeds)
            worst_far, worst_caught = max(worst_far, far), min(worst_caught, caught)
            delays.append(delay)
            lines.append(
                f"| tuning | {scenario.name} | {share} | {far:.1%} | {caught:.0%} | {delay:.2f} |"
            )
        scores[share] = (worst_far, worst_caught, float(np.mean(delays)))
    ok = [s for s in candidates if scores[s][0] <= 0.05]
    # most streams caught, then the shortest delay, then the fewest false alarms
    chosen = (
        max(ok, key=lambda s: (scores[s][1], -scores[s][2], -scores[s][0]))
        if ok
        else max(candidates)
    )
    for scenario in held_out:
        far, caught, delay = stream_rates(scenario, chosen, seeds)
        lines.append(
            f"| held out | {scenario.name} | {chosen} | {far:.1%} | {caught:.0%} | {delay:.2f} |"
        )
    lines += [
        "",
        f"drift_share chosen on the tuning set: **{chosen}** (among values with at most 5% "
        "false alarms: the most streams caught, then the shortest delay, then the fewest "
        "false alarms); the held-out rows were measured with it only after. The shipped "
        "default stays 0.5, which had no false alarm at all on the tuning set.",
    ]
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


def serving_during_checks(
    url: str, bodies: list[object], root: str, total: int = 2000, concurrency: int = 4
) -> list[str]:
    """`/predict` latency alone, then while a separate process runs drift checks
    back to back (10,000 x 20 windows), on the same machine."""

    alone = run_load(url, bodies, concurrency=concurrency, total=total)
    seconds = max(5.0, alone.seconds * 3)
    rows = [f"| alone | - | {alone.rps:.0f} | {alone.p50_ms:.1f} | {alone.p99_ms:.1f} |"]
    default = MonitoringSettings().niceness
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
        during = run_load(url, bodies, concurrency=concurrency, total=total)
        out, _ = checker.communicate(timeout=seconds + 60)
        rows.append(
            f"| during drift checks ({label}) | {out.strip()} | {during.rps:.0f} "
            f"| {during.p50_ms:.1f} | {during.p99_ms:.1f} |"
        )
    return [
        "## `/predict` while the monitor checks drift",
        "",
        f"The same {total} requests at concurrency {concurrency}, alone and while a "
        "separate process ran drift checks of a 10,000 x 20 window back to back, at the "
        f"monitor's CPU priority (nice {default}, the default of `monitoring.niceness`) and "
        "at the service's (nice 0). They share nothing but the SQLite file; on this 2-core "
        "machine the checks, the service and the load generator share the cores, so what "
        "changes is CPU contention, which the monitor's lower priority keeps off the service.",
        "",
        "| phase | checks run | req/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
        *rows,
    ]
