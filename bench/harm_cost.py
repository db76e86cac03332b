"""Cost figure of the harm bench: one window check of 10,000 rows x 20 features, with and
without the estimate and the importance-weighted drift share.

Example::

    timings = cost(repeats=5)
    cost_text(timings)
"""

from __future__ import annotations

import time
from statistics import median

import numpy as np
import pandas as pd

from bench.drift_validity import contract_of
from monitoring.drift.detector import DriftDetector
from monitoring.drift.frames import contract_frame
from monitoring.drift.importance import FeatureImportance
from monitoring.drift.options import DriftOptions
from monitoring.drift.quality import data_quality
from monitoring.drift.results import DriftResult
from monitoring.estimate.cbpe import estimate
from monitoring.estimate.window import probability_matrix
from trainsmart.registry.calibration import Calibration

MAX_EXTRA_COST = 0.20


def cost(rows: int = 10_000, features: int = 20, repeats: int = 5) -> dict[str, float]:
    """Median seconds of one window check: ``base`` (frame, data quality, Evidently's
    tests), ``accuracy`` (+ weighted share + estimated accuracy) and ``both`` (+ weighted
    share + estimated accuracy and ROC AUC, as the monitor estimates)."""
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(features)]
    contract = contract_of(names)
    reference = pd.DataFrame(rng.normal(0, 1, (1_000, features)), columns=names)
    logged = [dict(zip(names, r, strict=True)) for r in rng.normal(0.1, 1, (rows, features))]
    positive = rng.beta(2, 5, rows)
    predictions = [
        {"class": str(int(p > 0.5)), "probabilities": {"0": 1 - p, "1": p}} for p in positive
    ]
    detector = DriftDetector(reference, contract, DriftOptions(0.5))
    importance = FeatureImportance({n: float(i + 1) for i, n in enumerate(names)})
    calibration = Calibration("temperature", ["0", "1"], temperature=1.3)

    def base() -> DriftResult:
        frame = contract_frame(contract, logged)
        data_quality(contract, frame)
        return detector.run(frame)

    def extended(metrics: tuple[str, ...]) -> None:
        drift = base()
        importance.weighted_share(drift.features)
        estimate(probability_matrix(predictions, ["0", "1"]), calibration, metrics)

    calls = {
        "base": base,
        "accuracy": lambda: extended(("accuracy",)),
        "both": lambda: extended(("accuracy", "roc_auc")),
    }
    timings: dict[str, list[float]] = {name: [] for name in calls}
    base()  # warm up (imports, caches)
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            timings[name].append(time.perf_counter() - start)
    return {name: median(values) for name, values in timings.items()}


def cost_text(timings: dict[str, float]) -> str:
    base = timings["base"]
    extra = {name: timings[name] / base - 1 for name in ("accuracy", "both")}

    def goal(name: str) -> str:
        return "goal met" if extra[name] <= MAX_EXTRA_COST else "goal missed"

    return (
        f"Cost of a window check of 10,000 rows x 20 features (frame, data quality, "
        f"Evidently's per-feature tests; median of the repeats): {base:.3f} s; with the "
        f"weighted share and the estimate as the monitor makes it (accuracy and ROC AUC): "
        f"{timings['both']:.3f} s, {extra['both']:+.1%} ({goal('both')}: at most "
        f"{MAX_EXTRA_COST:.0%}); with the estimated accuracy only: {timings['accuracy']:.3f} s, "
        f"{extra['accuracy']:+.1%} ({goal('accuracy')})."
    )
