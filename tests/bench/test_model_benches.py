"""Conclusions of bench/distill.py and bench/ensemble.py, computed from given figures."""

from __future__ import annotations

from bench.distill import conclusions
from bench.ensemble import worth_it
from training.compress.select import VariantRow


def _row(name: str, accuracy: float, drop: float, ms: float) -> VariantRow:
    row = VariantRow(name, "fp32", name, metrics={"accuracy": accuracy}, metric_drop=drop)
    row.latency_ms = {1: ms, 64: 10 * ms}
    return row


def test_distill_conclusion_names_the_more_accurate_method_and_the_budget() -> None:
    rows = {
        "pruned_fp32": _row("pruned_fp32", 0.95, 0.03, 0.02),
        "distilled": _row("distilled", 0.97, 0.01, 0.02),
    }
    first, second = conclusions(rows, budget=0.02)
    assert first.startswith("- distilled vs pruned_fp32 (same FLOPs): +2.00 accuracy points")
    assert "(distillation keeps more" in first
    assert "within the 0.02 budget: distilled." in first
    assert "batch 1: 1.00x" in first and "within 10%" in first
    assert second.endswith("not both built; no comparison.")


def test_ensemble_verdict_follows_the_figures() -> None:
    single = {"accuracy": 0.70, "roc_auc": 0.75, "rows": 1000.0}
    fast, slow = {1: 0.02, 64: 0.04}, {1: 0.08, 64: 0.20}
    noise = worth_it(single, {"accuracy": 0.705, "roc_auc": 0.751, "rows": 1000.0}, fast, slow)
    assert "within the test split's noise" in noise and "4.0x the latency at batch 1" in noise
    gain = worth_it(single, {"accuracy": 0.75, "roc_auc": 0.80, "rows": 1000.0}, fast, slow)
    assert gain.startswith("The ensemble gains +5.00 accuracy points and +0.0500 ROC AUC")
    assert "each accuracy point is worth 0.012 ms per call" in gain
    loss = worth_it(single, {"accuracy": 0.60, "roc_auc": 0.70, "rows": 1000.0}, fast, slow)
    assert loss.startswith("The ensemble gains nothing here (-10.00 accuracy points")
