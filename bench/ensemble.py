"""A K=5 fold ensemble against the single model: accuracy and latency, and when it pays.

The default Fair MLP (default settings) is trained once as ``trainsmart train`` does and
once as ``trainsmart train --cv 5 --ensemble`` does (training.ensemble: the 5 fold
networks averaged in one ONNX graph). Both ONNX graphs get ONNX Runtime's basic
optimisations (training.compress.quantize.prepare, the variants' fp32 baseline) and are
scored on the same test split; latency is ONNX Runtime's on this machine's CPU at batch
1 and 64 (training.compress.measure.latency_ms: interleaved rounds, median). The
conclusion is computed from the run's figures.

Example::

    python -m bench.ensemble       # prints the Markdown section (a few minutes: 6 fits)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from apps.settings import Settings

K = 5
METRICS = ("accuracy", "f1", "roc_auc")


def section(workdir: Path | None = None, k: int = K) -> list[str]:
    """Markdown lines: the single model and the K-fold ensemble side by side."""
    # lazy: torch, for the tools that only list the sections
    from training.compress import quantize
    from training.compress.measure import latency_ms, open_session, run
    from training.ensemble import build_ensemble  # lazy: as above
    from training.frameworks import get_framework  # lazy: as above
    from training.metrics import evaluate  # lazy: as above
    from training.train import train_model  # lazy: as above

    workdir = workdir or Path(tempfile.mkdtemp(prefix="bench-ensemble-"))
    workdir.mkdir(parents=True, exist_ok=True)
    scope = Settings(data_dir=workdir / "data").training_scope()
    started = time.perf_counter()
    single = train_model(scope, progress=False)
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    cv, ensemble = build_ensemble(scope, k)
    ensemble_s = time.perf_counter() - started
    test = single.splits.test
    x_test, y_test = single.encode(test.frame), test.target.tolist()
    torch_framework = get_framework("torch")
    sessions: dict[str, Any] = {}
    scores: dict[str, dict[str, float]] = {}
    for name, trained in (("single", single), (f"ensemble of {k}", ensemble)):
        stem = name.replace(" ", "_")
        raw = torch_framework.export(trained.model, trained.contract, workdir / f"{stem}.onnx")
        path = quantize.prepare(raw, workdir / f"{stem}.prepared.onnx")
        sessions[name] = open_session(path, ["CPUExecutionProvider"])
        scores[name] = evaluate(trained.contract, y_test, run(sessions[name], x_test))
        scores[name]["file_kib"] = path.stat().st_size / 1024
    latency = latency_ms(sessions, x_test, repeats=200)
    fold_accuracy = [fold.metrics["accuracy"] for fold in cv.folds]
    lines = [
        f"## 10. Ensemble: {k} fold models averaged against the single model (Fair MLP)",
        "",
        f"Default settings; the single model trained in {single_s:.0f} s, the {k} folds in "
        f"{ensemble_s:.0f} s. Test split: {len(x_test)} rows (the same for both). Fold "
        f"accuracies on their held-out folds: "
        + ", ".join(f"{a:.4f}" for a in fold_accuracy)
        + f" (std {np.std(fold_accuracy, ddof=1):.4f}).",
        "",
        "| model | " + " | ".join(METRICS) + " | file KiB | batch 1 ms | batch 64 ms |",
        "|---|" + "---|" * (len(METRICS) + 3),
    ]
    for name in sessions:
        values = " | ".join(f"{scores[name].get(m, float('nan')):.4f}" for m in METRICS)
        lines.append(
            f"| {name} | {values} | {scores[name]['file_kib']:.1f} | "
            f"{latency[name][1]:.4f} | {latency[name][64]:.4f} |"
        )
    names = list(sessions)
    lines += [
        "",
        worth_it(scores[names[0]], scores[names[1]], latency[names[0]], latency[names[1]]),
    ]
    return lines


def worth_it(
    single: dict[str, float],
    ensemble: dict[str, float],
    single_ms: dict[int, float],
    ensemble_ms: dict[int, float],
) -> str:
    """The verdict, from the two models' test metrics and latencies."""
    points = 100 * (ensemble["accuracy"] - single["accuracy"])
    auc = ensemble.get("roc_auc", 0.0) - single.get("roc_auc", 0.0)
    cost = {b: ensemble_ms[b] / single_ms[b] for b in (1, 64)}
    extra = {b: ensemble_ms[b] - single_ms[b] for b in (1, 64)}
    price = (
        f"{cost[1]:.1f}x the latency at batch 1 (+{extra[1]:.3f} ms per call) and "
        f"{cost[64]:.1f}x at batch 64 (+{extra[64]:.3f} ms)"
    )
    rows = max(single.get("rows", 0.0), 1.0)
    noise = 100 * float(np.sqrt(single["accuracy"] * (1 - single["accuracy"]) / rows))
    if abs(points) < noise and abs(auc) < 0.01:
        return (
            f"The ensemble's {points:+.2f} accuracy points and {auc:+.4f} ROC AUC are within "
            f"the test split's noise (one standard error of the accuracy on {rows:.0f} rows: "
            f"{noise:.2f} points), and it costs {price}: not worth it for this model and "
            "data; it is worth it when the gain exceeds that noise, i.e. when the fold "
            "models disagree more (fewer rows, a larger network), and the latency budget "
            "allows K networks per call."
        )
    if points > 0 or auc > 0:
        value = (
            f"each accuracy point is worth {extra[1] / points:.3f} ms per call"
            if points > 0
            else "the ranking (AUC) matters more than the accuracy"
        )
        return (
            f"The ensemble gains {points:+.2f} accuracy points and {auc:+.4f} ROC AUC for "
            f"{price}: worth it when a request can spend {ensemble_ms[1]:.3f} ms in the model "
            f"at batch 1 and {value}; not worth it on a tight latency budget, or when the "
            "served file must stay small (it holds K networks)."
        )
    return (
        f"The ensemble gains nothing here ({points:+.2f} accuracy points, {auc:+.4f} ROC AUC) "
        f"and costs {price}: not worth it for this model and data; averaging pays only when "
        "the fold models disagree more (higher variance: fewer rows, a larger network)."
    )


if __name__ == "__main__":
    print("\n".join(section()))
