"""Where and how variants are measured: the execution provider, latency, agreement, and
all of it for the variants of one model (:func:`measure_variants`).

Latency is measured on the hardware the model will be chosen for (:func:`target_providers`:
CUDA when onnxruntime-gpu sees a GPU, else the CPU, said once in the log). Variants are
timed interleaved: for each batch size, rounds in which every variant runs a few times,
so that a burst of load on a shared machine slows all of them alike instead of the one
that happened to run then.

Example::

    providers = target_providers("auto")            # ["CPUExecutionProvider"] here
    sessions = {name: open_session(path, providers) for name, path in paths.items()}
    latency_ms(sessions, x_test)                     # {"fp32": {1: 0.019, 64: 0.17}, ...}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

from training.compress.errors import NoGpu
from training.compress.select import REFERENCE, VariantRow
from training.metrics import evaluate, primary_metric
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import InputContract

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
BATCHES = (1, 64)
ROUNDS = 10
WARMUP = 10

Target = Literal["auto", "cpu", "cuda"]


def target_providers(target: Target = "auto", available: Sequence[str] | None = None) -> list[str]:
    """ONNX Runtime providers to measure and choose variants on, best first.

    ``available`` defaults to ``onnxruntime.get_available_providers()``. 'auto' takes CUDA
    when it is there, else the CPU; 'cuda' without it raises :class:`NoGpu`.
    """
    if available is None:
        available = ort.get_available_providers()
    available = list(available)
    if target == "cpu":
        logger.info("compression: variants measured on the CPU (compression.target: cpu)")
        return [CPU]
    if CUDA in available:
        logger.info("compression: variants measured on %s; fp16 is a candidate", CUDA)
        return [CUDA, CPU]
    if target == "cuda":
        raise NoGpu(available)
    logger.info(
        "compression: no CUDA provider in ONNX Runtime (available: %s); variants are measured "
        "and chosen on the CPU, fp16 is built but not a candidate",
        ", ".join(available),
    )
    return [CPU]


def on_gpu(providers: Sequence[str]) -> bool:
    return bool(providers) and providers[0] == CUDA


def open_session(path: Path, providers: Sequence[str]) -> Any:
    """An ONNX Runtime session with serving's defaults (all graph optimisations, every
    core), on ``providers``."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=list(providers))


def run(session: Any, matrix: np.ndarray) -> np.ndarray:
    name = session.get_inputs()[0].name
    out: np.ndarray = session.run(None, {name: np.ascontiguousarray(matrix, dtype=np.float32)})[0]
    return np.asarray(out, dtype=np.float32)


def latency_ms(
    sessions: Mapping[str, Any],
    rows: np.ndarray,
    *,
    batches: Sequence[int] = BATCHES,
    repeats: int = 100,
) -> dict[str, dict[int, float]]:
    """Median milliseconds per ``session.run`` of each session at each batch size (rows
    repeated to fill the batch), timed interleaved over ``ROUNDS`` rounds."""
    per_round = max(1, -(-repeats // ROUNDS))
    samples: dict[str, dict[int, list[float]]] = {n: {b: [] for b in batches} for n in sessions}
    for batch in batches:
        feed = np.ascontiguousarray(np.resize(rows, (batch, rows.shape[1])), dtype=np.float32)
        feeds = {n: {s.get_inputs()[0].name: feed} for n, s in sessions.items()}
        for name, session in sessions.items():
            for _ in range(WARMUP):
                session.run(None, feeds[name])
        for _ in range(ROUNDS):
            for name, session in sessions.items():
                for _ in range(per_round):
                    started = time.perf_counter()
                    session.run(None, feeds[name])
                    samples[name][batch].append((time.perf_counter() - started) * 1000)
    return {n: {b: float(np.median(v)) for b, v in per.items()} for n, per in samples.items()}


def agreement(reference: np.ndarray, outputs: np.ndarray, regression: bool) -> tuple[float, float]:
    """(agreement, max abs difference) of ``outputs`` with ``reference`` on the same rows.

    Classification: the share of rows with the same predicted class, and the largest
    probability difference. Regression: the share of rows within a tenth of the
    reference outputs' standard deviation, and the largest value difference.
    """
    if reference.shape != outputs.shape:
        raise ValueError(f"outputs of shape {outputs.shape} vs reference {reference.shape}")
    gap = np.abs(outputs.astype(np.float64) - reference.astype(np.float64))
    worst = float(gap.max()) if gap.size else 0.0
    if regression:
        tolerance = 0.1 * float(np.std(reference)) or 1e-6
        return float(np.mean(gap.reshape(len(gap), -1).max(axis=1) <= tolerance)), worst
    same = reference.argmax(axis=1) == outputs.argmax(axis=1)
    return float(np.mean(same)), worst


def measure_variants(
    rows: list[VariantRow],
    paths: Mapping[str, Path],
    contract: InputContract,
    x_test: np.ndarray,
    y_test: list[Any],
    providers: Sequence[str],
    repeats: int,
) -> None:
    """Test metrics, agreement and latency of every built variant (``paths``: name -> file),
    filled into ``rows``; the fp32 reference must run."""
    regression = contract.task == "regression"
    metric = primary_metric(contract.task)
    sessions: dict[str, Any] = {}
    outputs: dict[str, np.ndarray] = {}
    for row in rows:
        if row.name not in paths:
            continue
        try:
            session = open_session(paths[row.name], providers)
            outputs[row.name] = run(session, x_test)
        except Exception as exc:  # onnxruntime raises its own, non-exported error types
            if row.name == REFERENCE:
                raise TrainingError(f"ONNX Runtime cannot run the fp32 model ({exc})") from exc
            row.error = f"ONNX Runtime cannot run it on {providers[0]} ({exc})"
            continue
        sessions[row.name] = session
        row.file_bytes = paths[row.name].stat().st_size
        row.metrics = evaluate(contract, y_test, outputs[row.name])
    reference = outputs[REFERENCE]
    base = next(r for r in rows if r.name == REFERENCE).metrics.get(metric)
    for row in rows:
        if row.name not in outputs:
            continue
        row.agreement, row.max_abs_diff = agreement(reference, outputs[row.name], regression)
        if row.source != row.name and row.source in outputs:
            row.source_agreement = agreement(outputs[row.source], outputs[row.name], regression)[0]
        if base is not None and metric in row.metrics:
            row.metric_drop = base - row.metrics[metric]
    for name, per_batch in latency_ms(sessions, x_test, repeats=repeats).items():
        next(r for r in rows if r.name == name).latency_ms = per_batch
