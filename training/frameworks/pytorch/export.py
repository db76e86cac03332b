"""Export a torch :class:`~torch.nn.Module` to ONNX with the dynamo exporter.

Quirks worth knowing:

* the dynamo exporter specialises a dimension whose example size is 1, so the
  example batch has 2 rows and the batch dimension is declared dynamic; the
  exported input is checked to really have a symbolic batch dimension.

The framework-neutral side (tensor names, ONNX Runtime scoring, the parity check) is
:mod:`training.onnx_parity`; the compressed variants are :mod:`training.compress`.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch

from training.onnx_parity import INPUT_NAME, OUTPUT_NAME
from trainsmart.errors import TrainingError

EXAMPLE_ROWS = 2


def export_onnx(
    model: torch.nn.Module, n_features: int, path: Path, output_name: str = OUTPUT_NAME
) -> Path:
    """Write ``model`` (raw ``[batch, n_features]`` float32 -> probabilities, or the
    value for regression, named ``output_name``) as ONNX."""
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
