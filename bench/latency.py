"""Figure 1: latency of PyTorch eager fp32 vs ONNX Runtime fp32 and the served variant."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch


@dataclass(frozen=True)
class Latency:
    engine: str
    batch: int
    median_ms: float
    p90_ms: float


def _measure(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    for _ in range(max(10, repeats // 10)):  # warm-up
        run()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return float(np.median(samples)), float(np.percentile(samples, 90))


def model_latencies(
    torch_model: object,
    fp32: Path,
    served: Path,
    served_name: str,
    rows: np.ndarray,
    repeats: int = 300,
) -> list[Latency]:
    """Median latency per engine at batch 1 and 64, measured in one process, one after another."""

    sessions = {
        "onnxruntime fp32": ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]),
        f"onnxruntime served ({served_name})": ort.InferenceSession(
            str(served), providers=["CPUExecutionProvider"]
        ),
    }
    results = []
    for batch in (1, 64):
        x = np.ascontiguousarray(rows[:batch], dtype=np.float32)
        tensor = torch.from_numpy(x)
        model = torch_model
        assert isinstance(model, torch.nn.Module)
        model.eval()

        def eager(t: torch.Tensor = tensor, m: torch.nn.Module = model) -> object:
            with torch.inference_mode():
                return m(t)

        med, p90 = _measure(eager, repeats)
        results.append(Latency("pytorch eager fp32", batch, med, p90))
        for name, session in sessions.items():
            feed = {session.get_inputs()[0].name: x}

            def infer(s: ort.InferenceSession = session, f: dict[str, np.ndarray] = feed) -> object:
                return s.run(None, f)

            med, p90 = _measure(infer, repeats)
            results.append(Latency(name, batch, med, p90))
    return results
