"""GPU precisions as variants: the threshold from a timing table, the precision within the
budget, parity per precision. Pure functions on measured tables; ``measure_precisions``
takes the sessions it is given, here CPU sessions of real graphs (it does not open any)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from serving.gpu_profile import PARITY_TOLERANCE
from tests.conftest import fair_contract, logistic_onnx
from training.compress.gpu import (
    GpuMeasurement,
    choose_precision,
    crossover,
    measure_precisions,
    parity_gap,
)
from training.compress.select import VariantRow

CPU_MS = {1: 0.02, 8: 0.05, 64: 0.2, 256: 0.6, 1024: 1.0, 4096: 3.2, 8192: 6.5}
"""Issue J's digits CNN, CPU fp32 (b1 and b8192 measured, the rest in between)."""


def test_crossover_is_where_cuda_starts_winning_for_good() -> None:
    cuda = {1: 0.12, 8: 0.12, 64: 0.25, 256: 0.16, 1024: 0.2, 4096: 0.4, 8192: 0.68}
    assert crossover(CPU_MS, cuda) == 256
    noisy = {**cuda, 8: 0.04}  # a win at 8 below a loss at 64 is noise
    assert crossover(CPU_MS, noisy) == 256
    assert crossover(CPU_MS, dict.fromkeys(CPU_MS, 100.0)) is None
    loses_at_the_top = {**cuda, 8192: 7.0}
    assert crossover(CPU_MS, loses_at_the_top) is None
    assert crossover(CPU_MS, {8192: 0.68}) == 8192  # only common sizes count
    assert crossover({}, {}) is None


def test_parity_gap_is_absolute_for_probabilities_relative_for_large_values() -> None:
    reference = np.array([[0.2, 0.8]], dtype=np.float32)
    gap = parity_gap(reference, reference + 1e-3, regression=False)
    assert gap == pytest.approx(1e-3, rel=1e-5)
    values = np.array([[200.0]], dtype=np.float32)
    assert parity_gap(values, values + 0.2, regression=True) == pytest.approx(1e-3, rel=1e-3)


def row(name: str, scale: float, *, drop: float = 0.0, error: str | None = None) -> VariantRow:
    r = VariantRow(name, name, "fp32", gpu_only=True)
    r.latency_ms = {b: 0.1 + scale * 0.00008 * b for b in CPU_MS}
    r.metric_drop, r.agreement, r.source_agreement, r.error = drop, 1.0, 1.0, error
    return r


def choose(rows: list[VariantRow], max_drop: float = 0.01) -> tuple[str, int | None, str]:
    measured = GpuMeasurement(rows, dict(CPU_MS))
    choice = choose_precision(measured, max_drop=max_drop, min_speedup=1.1, min_agreement=0.95)
    return choice.precision, choice.min_rows, choice.reason


def test_the_fastest_precision_within_the_budget_serves_from_its_own_crossover() -> None:
    rows = [row("fp32", 1.0), row("tf32", 0.6, drop=0.002), row("fp16", 0.5, drop=0.03)]
    precision, min_rows, reason = choose(rows)
    assert (precision, min_rows) == ("tf32", 64)
    assert "tf32 on CUDA from 64 rows" in reason
    assert [r.status for r in rows] == ["reference", "served", rows[2].status]
    assert rows[2].status.startswith("rejected: metric drop 0.0300 > budget 0.01")
    precision, _, _ = choose(
        [row("fp32", 1.0), row("tf32", 0.6, drop=0.002), row("fp16", 0.5, drop=0.03)], 0.05
    )
    assert precision == "fp16"


def test_a_precision_over_its_parity_tolerance_is_refused() -> None:
    rows = [row("fp32", 1.0), row("tf32", 0.6, error="differs from CPU fp32 by 0.003")]
    precision, min_rows, _ = choose(rows)
    assert (precision, min_rows) == ("fp32", 64)
    assert rows[1].status == "failed: differs from CPU fp32 by 0.003"


def test_without_labels_only_exact_fp32_can_serve() -> None:
    rows = [row("fp32", 1.0), row("tf32", 0.6)]
    rows[1].metric_drop = None
    assert choose(rows)[0] == "fp32"
    assert rows[1].status == "rejected: no test metric"


def test_exact_fp32_failing_parity_keeps_cuda_out() -> None:
    rows = [row("fp32", 1.0, error="differs from CPU fp32 by 0.01"), row("tf32", 0.6)]
    precision, min_rows, reason = choose(rows)
    assert (precision, min_rows) == ("fp32", None)
    assert "CUDA is not used" in reason and "0.01" in reason


def test_cuda_never_faster_means_every_call_on_the_cpu() -> None:
    rows = [row("fp32", 1000.0), row("tf32", 900.0)]
    _, min_rows, reason = choose(rows)
    assert min_rows is None
    assert "not faster than the CPU up to 8192 rows" in reason


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_measure_precisions_checks_parity_and_metrics_per_precision(tmp_path: Path) -> None:
    contract = fair_contract()
    weights = np.linspace(-1, 1, 8) * 0.1
    logistic_onnx(tmp_path / "float.onnx", weights, 0.0)
    logistic_onnx(tmp_path / "close.onnx", weights, 1e-3)  # ~2.5e-4 apart: TF32-like
    logistic_onnx(tmp_path / "far.onnx", weights, 0.2)
    float_, close, far = (session(tmp_path / f"{n}.onnx") for n in ("float", "close", "far"))
    rows = np.random.default_rng(0).uniform(0, 5, (40, 8)).astype(np.float32)
    labels = ["1" if x > 0 else "0" for x in rows @ weights]
    measured = measure_precisions(
        float_,
        float_,
        {"fp32": float_, "tf32": close, "fp16": far},
        contract,
        rows,
        labels,
        PARITY_TOLERANCE,
        repeats=2,
        batches=(1, 16),
    )
    by_name = {r.name: r for r in measured.rows}
    assert by_name["fp32"].error is None and by_name["fp32"].max_abs_diff == 0.0
    assert by_name["tf32"].error is None
    assert 1e-4 < (by_name["tf32"].max_abs_diff or 0) < PARITY_TOLERANCE["tf32"]
    assert by_name["fp16"].error is not None
    assert "over its parity tolerance 0.01" in by_name["fp16"].error
    assert by_name["fp32"].metric_drop == 0.0
    assert set(measured.cpu_ms) == {1, 16}
    assert all(set(r.latency_ms) == {1, 16} for r in measured.rows)
