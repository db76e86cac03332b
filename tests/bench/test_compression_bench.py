"""The compression benchmark's measuring helpers, on a tiny real ONNX model (no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from bench.compute import compute_split, matmul_gflops, op_profiles, preprocessing_model, timed
from tests.conftest import logistic_onnx


def _model(tmp_path: Path) -> Path:
    path = tmp_path / "logistic.onnx"
    logistic_onnx(path, np.array([0.5, -1.0, 2.0], dtype=np.float32), 0.1)
    return path


def test_timed_gives_one_median_per_callable() -> None:
    calls: list[str] = []
    result = timed({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=20)
    assert set(result) == {"a", "b"} and all(v >= 0 for v in result.values())
    assert calls.count("a") == calls.count("b") == 20 + 20  # warm-up + timed


def test_op_profiles_split_compute_from_the_rest(tmp_path: Path) -> None:
    path = _model(tmp_path)
    rows = np.array([[1.0, np.nan, 3.0]], dtype=np.float32)
    profiles = op_profiles({"one": path, "two": path}, rows, batch=4, runs=20)
    assert set(profiles) == {"one", "two"}
    assert {"Gemm", "IsNaN", "Softmax"} <= set(profiles["one"])  # MatMul + Add fused
    compute, other = compute_split(profiles["one"])
    assert compute == profiles["one"]["Gemm"] and other > 0


def test_preprocessing_model_stops_before_the_first_compute_op(tmp_path: Path) -> None:
    import onnxruntime as ort

    prefix = preprocessing_model(_model(tmp_path), tmp_path / "prefix.onnx")
    assert [n.op_type for n in onnx.load(str(prefix)).graph.node] == ["IsNaN", "Where"]
    session = ort.InferenceSession(str(prefix), providers=["CPUExecutionProvider"])
    rows = np.array([[1.0, np.nan, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(session.run(None, {"input": rows})[0], [[1.0, 0.0, 3.0]])


def test_matmul_rate_is_measured() -> None:
    assert matmul_gflops(64) > 0
