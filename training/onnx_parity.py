"""The exported graph, framework-neutral: its tensor names, ONNX Runtime scoring, and the
check that the ONNX model answers like the framework's model it was exported from.

Example::

    sample = parity_sample(x_test)                  # two test rows and one all-missing row
    gap = check_parity(trained.predict_proba, Path("fp32.onnx"), sample, 1e-4,
                       framework="PyTorch")         # raises TrainingError beyond 1e-4
    onnx_predict(Path("model.onnx"), x_test)        # probabilities (or values) [n, k]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from trainsmart.errors import TrainingError

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"


def session(path: Path) -> Any:
    """An onnxruntime CPU session for ``path``."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_predict(path: Path | str | Any, matrix: np.ndarray) -> np.ndarray:
    """Probabilities of the ONNX model at ``path`` (or an open session) for ``matrix``."""
    sess = session(Path(path)) if isinstance(path, str | Path) else path
    name = sess.get_inputs()[0].name
    out: np.ndarray = sess.run(None, {name: np.ascontiguousarray(matrix, dtype=np.float32)})[0]
    return out


def parity_sample(x_test: np.ndarray) -> np.ndarray:
    """Three test rows, the last with every value missing (exercises imputation)."""
    if len(x_test) < 2:
        raise TrainingError(f"the test split has {len(x_test)} rows; parity needs at least 2")
    blank = np.full((1, x_test.shape[1]), np.nan, dtype=np.float32)
    return np.vstack([x_test[:2], blank]).astype(np.float32)


def check_parity(
    predict: Callable[[np.ndarray], np.ndarray],
    onnx_path: Path,
    sample: np.ndarray,
    tol: float,
    *,
    framework: str,
) -> float:
    """Compare the framework's and ONNX outputs at batch 1 and batch 3; return the max gap.
    ``predict`` is the framework model's ``predict_proba(matrix) -> ndarray``
    (``framework`` names it in messages).

    Raises TrainingError when a probability differs by more than ``tol``.
    """
    if len(sample) < 3:
        raise TrainingError(f"parity check needs at least 3 sample rows, got {len(sample)}")
    sess = session(onnx_path)
    worst = 0.0
    for rows in (sample[:1], sample[:3]):
        expected = predict(np.asarray(rows, dtype=np.float32))
        got = onnx_predict(sess, rows)
        if got.shape != expected.shape:
            raise TrainingError(
                f"ONNX output shape {got.shape} differs from {framework}'s {expected.shape} "
                f"at batch {len(rows)}; the export lost the dynamic batch dimension"
            )
        gap = float(np.max(np.abs(got - expected)))
        worst = max(worst, gap)
        if not gap <= tol:
            raise TrainingError(
                f"ONNX and {framework} probabilities differ by {gap:.3g} at batch {len(rows)} "
                f"(tolerance {tol:g}); the export is not faithful, so the model is not "
                "registered"
            )
    return worst
