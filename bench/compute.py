"""Measuring helpers of the compression benchmark: interleaved timing, ONNX Runtime's
per-op profile, and the numpy matmul rate used as the attainable compute."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort
import torch

from training.compress.measure import CPU, open_session

REPEATS = 300
ROUNDS = 10
COMPUTE_OPS = frozenset(
    {"Conv", "QLinearConv", "Gemm", "FusedGemm", "QGemm", "MatMul", "FusedConv"}
)
"""Op types whose time scales with the model's FLOPs (the rest is fixed per run)."""


def cpu_session(path: Path) -> Any:
    """An ONNX Runtime CPU session with serving's defaults."""
    return open_session(path, [CPU])


def engine_latencies(rows: np.ndarray, engines: dict[str, Any], batch: int) -> dict[str, float]:
    """Median ms per engine (torch modules or ONNX Runtime sessions) on ``batch`` of
    ``rows``, interleaved."""

    x = np.ascontiguousarray(np.resize(rows, (batch, rows.shape[1])), dtype=np.float32)
    runs: dict[str, Callable[[], object]] = {}
    for name, engine in engines.items():
        if isinstance(engine, torch.nn.Module):
            tensor = torch.from_numpy(x)

            def eager(m: torch.nn.Module = engine, t: torch.Tensor = tensor) -> object:
                with torch.inference_mode():
                    return m(t)

            runs[name] = eager
        else:
            feed = {engine.get_inputs()[0].name: x}

            def infer(s: Any = engine, f: dict[str, np.ndarray] = feed) -> object:
                return s.run(None, f)

            runs[name] = infer
    return timed(runs)


def verdict(ok: bool) -> str:
    """A target's cell: met, or missed in bold."""
    return "met" if ok else "**missed**"


def top_others(profile: dict[str, float], n: int = 4) -> str:
    """The ``n`` slowest op types of a profile that are not Conv/Gemm kernels."""
    others = [(k, v) for k, v in profile.items() if k not in COMPUTE_OPS][:n]
    return ", ".join(f"{k} {v:.1f} us" for k, v in others)


def timed(runs: dict[str, Callable[[], object]], repeats: int = REPEATS) -> dict[str, float]:
    """Median ms of each callable, interleaved over rounds after a warm-up."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        for _ in range(20):
            run()
    for _ in range(ROUNDS):
        for name, run in runs.items():
            for _ in range(repeats // ROUNDS):
                started = time.perf_counter()
                run()
                samples[name].append((time.perf_counter() - started) * 1000)
    return {name: float(np.median(values)) for name, values in samples.items()}


def op_profiles(
    paths: dict[str, Path], rows: np.ndarray, batch: int, runs: int = 500
) -> dict[str, dict[str, float]]:
    """ONNX Runtime's own kernel time per op type of each model, microseconds per run (its
    profiler), the models' runs alternating so that machine noise hits them alike."""

    feed = np.ascontiguousarray(np.resize(rows, (batch, rows.shape[1])), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="trainsmart-profile-") as tmp:
        sessions = {}
        for i, (name, path) in enumerate(paths.items()):
            options = ort.SessionOptions()
            options.enable_profiling = True
            options.log_severity_level = 3
            options.profile_file_prefix = str(Path(tmp) / f"ort{i}")
            sessions[name] = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        for _ in range(runs):
            for session in sessions.values():
                session.run(None, {session.get_inputs()[0].name: feed})
        files = {name: Path(session.end_profiling()) for name, session in sessions.items()}
        events = {name: json.loads(file.read_text()) for name, file in files.items()}
    return {name: _per_op(found, runs) for name, found in events.items()}


def _per_op(events: list[dict[str, Any]], runs: int) -> dict[str, float]:
    totals: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            totals[op] = totals.get(op, 0.0) + event["dur"] / runs
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def preprocessing_model(path: Path, out: Path) -> Path:
    """The graph of ``path`` up to its first Conv/Gemm/MatMul or QuantizeLinear: the
    in-graph preprocessing, whose latency (with session.run's own) is the floor that
    shrinking the network cannot lower."""

    nodes = onnx.load(str(path)).graph.node
    first = next(n for n in nodes if n.op_type in COMPUTE_OPS | {"QuantizeLinear"})
    onnx.utils.extract_model(str(path), str(out), ["input"], [first.input[0]])
    return out


def compute_split(profile: dict[str, float]) -> tuple[float, float]:
    """(time in Conv/Gemm kernels, time in every other kernel) of one op profile."""
    compute = sum(v for k, v in profile.items() if k in COMPUTE_OPS)
    return compute, sum(profile.values()) - compute


def matmul_gflops(n: int) -> float:
    """GFLOP/s of a numpy float32 ``n x n @ n x n`` matmul on this machine (median)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    repeats = 50 if n <= 512 else 10
    median = timed({"matmul": lambda: a @ b}, repeats=max(repeats, ROUNDS))["matmul"]
    return 2 * n**3 / (median * 1e-3) / 1e9
