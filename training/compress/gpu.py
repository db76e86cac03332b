"""GPU precisions as variants: exact fp32, TF32 and fp16 on CUDA, measured against CPU
fp32 on the GPU where the model will serve, chosen within ``training.compression``'s budget.

Precision on a GPU is a speed/accuracy trade like int8 on a CPU (issue J: ResNet-18 at
batch 1024 took 4.32 ms in exact fp32, 2.63 ms with TF32 at a max difference of 8.7e-4,
2.27 ms in fp16 at 1.2e-3). So each precision becomes a row of the variant table
(:class:`~training.compress.select.VariantRow`, named 'fp32', 'tf32', 'fp16'): refused when
it differs from CPU fp32 beyond its parity tolerance, then chosen by
:func:`~training.compress.select.choose` as the compressed variants are (agreement, metric
drop, speed-up over exact fp32 on CUDA), comparing speeds at the batch sizes CUDA serves.
The threshold is where the chosen precision starts to beat the CPU (:func:`crossover`).

The caller opens the sessions (the CUDA provider options belong to serving:
``serving.gpu_profile.cuda_options``); this module measures and chooses.

Example::

    measured = measure_precisions(cpu, reference, {"fp32": s32, "tf32": s_tf, "fp16": s16},
                                  contract, x_test, y_test, PARITY_TOLERANCE, repeats=30)
    choice = choose_precision(measured, max_drop=0.01, min_speedup=1.1, min_agreement=0.95)
    choice.precision, choice.min_rows, choice.reason   # ("tf32", 256, "...")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.compress.measure import agreement, latency_ms, run
from training.compress.select import REFERENCE, VariantRow, choose
from training.metrics import evaluate, primary_metric
from trainsmart.registry.contract import InputContract

BATCHES = (1, 8, 64, 256, 1024, 4096, 8192)
"""Batch sizes timed on the CPU and on CUDA."""


@dataclass
class GpuMeasurement:
    """One row per precision (latency by batch on CUDA) and the CPU's latency by batch."""

    rows: list[VariantRow]
    cpu_ms: dict[int, float]


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str
    min_rows: int | None
    """From this many rows a call runs on CUDA; None: never (every call on the CPU)."""
    reason: str


def crossover(cpu_ms: Mapping[int, float], cuda_ms: Mapping[int, float]) -> int | None:
    """The smallest measured batch size from which CUDA is faster than the CPU at it and
    at every larger measured size (a lone win amid losses is noise, not a threshold);
    None when CUDA does not win at the largest size measured by both."""
    batches = sorted(b for b in cpu_ms if b in cuda_ms)
    threshold = None
    for batch in reversed(batches):
        if not cuda_ms[batch] < cpu_ms[batch]:
            break
        threshold = batch
    return threshold


def parity_gap(reference: np.ndarray, outputs: np.ndarray, regression: bool) -> float:
    """Max abs difference from the CPU's outputs; for regression relative to the largest
    reference value when that is above 1 (values have a scale, probabilities do not)."""
    gap = float(np.max(np.abs(outputs.astype(np.float64) - reference.astype(np.float64))))
    if regression:
        gap /= max(1.0, float(np.max(np.abs(reference))))
    return gap


def measure_precisions(
    cpu: Any,
    reference: Any,
    cuda: Mapping[str, Any],
    contract: InputContract,
    rows: np.ndarray,
    labels: Sequence[Any] | None,
    tolerances: Mapping[str, float],
    *,
    repeats: int,
    batches: Sequence[int] = BATCHES,
) -> GpuMeasurement:
    """Measure each CUDA session of ``cuda`` (precision -> session; 'fp32' required) on
    ``rows``: its difference from ``reference`` (the CPU session of the float graph) and
    its parity, agreement, test metrics (``labels``; None: unknown, so only fp32 can be
    chosen) and latency at ``batches``, timed interleaved with ``cpu`` (the CPU session
    serving uses)."""
    regression = contract.task == "regression"
    metric = primary_metric(contract.task)
    expected = run(reference, rows)
    base = evaluate(contract, list(labels), expected).get(metric) if labels is not None else None
    measured: list[VariantRow] = []
    timed: dict[str, Any] = {"cpu": cpu}
    for name, session in cuda.items():
        row = VariantRow(name, name, REFERENCE, gpu_only=True)
        measured.append(row)
        try:
            outputs = run(session, rows)
        except Exception as exc:  # onnxruntime raises its own, non-exported error types
            row.error = f"ONNX Runtime cannot run it on CUDA ({exc})"
            continue
        timed[name] = session
        row.agreement, row.max_abs_diff = agreement(expected, outputs, regression)
        row.source_agreement = row.agreement
        gap = parity_gap(expected, outputs, regression)
        if not gap <= tolerances[name]:
            row.error = (
                f"differs from CPU fp32 by {gap:.3g}, over its parity tolerance "
                f"{tolerances[name]:g}"
            )
        if labels is not None:
            row.metrics = evaluate(contract, list(labels), outputs)
            if base is not None and metric in row.metrics:
                row.metric_drop = base - row.metrics[metric]
    latency = latency_ms(timed, rows, batches=batches, repeats=repeats)
    for row in measured:
        row.latency_ms = latency.get(row.name, {})
    return GpuMeasurement(measured, latency["cpu"])


def choose_precision(
    measured: GpuMeasurement, *, max_drop: float, min_speedup: float, min_agreement: float
) -> PrecisionChoice:
    """The precision CUDA serves in and the row count from which it does; sets each row's
    ``status``. Speeds are compared at the sizes where exact fp32 on CUDA beats the CPU
    (the largest size measured, when it never does)."""
    exact = next((r for r in measured.rows if r.name == REFERENCE), None)
    if exact is None or exact.error is not None:
        why = exact.error if exact is not None else "was not measured"
        for row in measured.rows:
            row.status = f"failed: {row.error}" if row.error else "rejected: fp32 failed"
        return PrecisionChoice(REFERENCE, None, f"exact fp32 on CUDA {why}; CUDA is not used")
    start = crossover(measured.cpu_ms, exact.latency_ms)
    served = [b for b in exact.latency_ms if start is not None and b >= start]
    served = served or sorted(exact.latency_ms)[-1:]
    views = [
        dataclasses.replace(r, latency_ms={b: r.latency_ms[b] for b in served if b in r.latency_ms})
        for r in measured.rows
    ]
    choice = choose(
        views,
        objective="speed",
        max_drop=max_drop,
        min_speedup=min_speedup,
        min_agreement=min_agreement,
        gpu=True,
    )
    for row, view in zip(measured.rows, views, strict=True):
        row.status = view.status
    chosen = next(r for r in measured.rows if r.name == choice.name)
    min_rows = crossover(measured.cpu_ms, chosen.latency_ms)
    sizes = ", ".join(str(b) for b in served)
    if min_rows is None:
        largest = max(measured.cpu_ms)
        return PrecisionChoice(
            choice.name,
            None,
            f"{choice.name} on CUDA is not faster than the CPU up to {largest} rows; every "
            "call stays on the CPU",
        )
    return PrecisionChoice(
        choice.name,
        min_rows,
        f"{choice.name} on CUDA from {min_rows} rows; {choice.reason} (at {sizes} rows)",
    )
