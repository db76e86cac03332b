"""ONNX export, the framework/ONNX parity check and ONNX scoring.

Quirks worth knowing:

* the dynamo exporter specialises a dimension whose example size is 1, so the
  example batch has 2 rows and the batch dimension is declared dynamic; the
  exported input is checked to really have a symbolic batch dimension.

Quantization, pruning and the other compressed variants live in :mod:`training.compress`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainsmart.errors import TrainingError

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
EXAMPLE_ROWS = 2


def export_onnx(
    model: torch.nn.Module, n_features: int, path: Path, output_name: str = OUTPUT_NAME
) -> Path:
    """Write ``model`` (raw ``[batch, n_features]`` float32 -> probabilities, or the
    value for regression, named ``output_name``) as ONNX."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    example = torch.zeros(EXAMPLE_ROWS, n_features, dtype=torch.float32)
    batch = torch.export.Dim("batch")
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's own LeafSpec deprecation
        try:
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[output_name],
                dynamic_shapes=({0: batch},),
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many internal error types
            raise TrainingError(
                f"ONNX export failed ({type(exc).__name__}: {exc}); the model uses an op the "
                "exporter cannot translate"
            ) from exc
    graph = onnx.load(str(path)).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 2 or not dims[0].dim_param or dims[1].dim_value != n_features:
        shown = [d.dim_param or d.dim_value for d in dims]
        raise TrainingError(
            f"exported ONNX input has shape {shown}; expected [batch, {n_features}] with a "
            "symbolic batch dimension (export with an example batch of at least 2 rows)"
        )
    return path


def session(path: Path) -> Any:
    """An onnxruntime CPU session for ``path``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_predict(path: Path | str | Any, matrix: np.ndarray) -> np.ndarray:
    """Probabilities of the ONNX model at ``path`` (or an open session) for ``matrix``."""
    sess = session(Path(path)) if isinstance(path, str | Path) else path
    name = sess.get_inputs()[0].name
    out: np.ndarray = sess.run(None, {name: np.ascontiguousarray(matrix, dtype=np.float32)})[0]
    return out


def check_parity(
    model: torch.nn.Module | Callable[[np.ndarray], np.ndarray],
    onnx_path: Path,
    sample: np.ndarray,
    tol: float,
    *,
    framework: str = "PyTorch",
) -> float:
    """Compare the framework's and ONNX probabilities at batch 1 and batch 3; return the
    max gap. ``model`` is a torch module or any ``predict_proba(matrix) -> ndarray``
    (``framework`` names it in messages).

    Raises TrainingError when a probability differs by more than ``tol``.
    """
    if len(sample) < 3:
        raise TrainingError(f"parity check needs at least 3 sample rows, got {len(sample)}")
    predict = _torch_predict(model) if isinstance(model, torch.nn.Module) else model
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


def _torch_predict(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    def predict(rows: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            out: np.ndarray = model(torch.from_numpy(rows)).numpy()
        return out

    return predict
