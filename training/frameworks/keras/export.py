"""Export a Keras model to ONNX with the contract's tensor names.

Export goes through ``keras_model.export(path, format="onnx")`` (tf2onnx under the hood;
tf2onnx's own Keras converter fails on Keras 3 models); the graph's tensors are then
renamed to the contract's ``input`` and output name and the batch dimension to
``batch``.

Example::

    export_keras_onnx(models.proba, len(contract.features), Path("fp32.onnx"))
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from training.frameworks.keras.models import keras_predict
from training.onnx_parity import INPUT_NAME, OUTPUT_NAME
from trainsmart.errors import TrainingError

BATCH_DIM = "batch"


def export_keras_onnx(
    model: Any, n_features: int, path: Path, output_name: str = OUTPUT_NAME
) -> Path:
    """Write ``model`` as ONNX with the contract's tensor names and a dynamic batch."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keras_predict(model, np.zeros((2, n_features), dtype=np.float32))  # export needs a call
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's np.object probe
            model.export(str(path), format="onnx", verbose=False)
    except Exception as exc:  # tf2onnx raises many internal error types
        raise TrainingError(
            f"Keras ONNX export failed ({type(exc).__name__}: {exc}); check that tf2onnx is "
            "installed (pip install -e '.[keras]') and the model uses only exportable ops"
        ) from exc
    proto = onnx.load(str(path))
    graph = proto.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise TrainingError(
            f"exported Keras graph has inputs {[i.name for i in graph.input]} and outputs "
            f"{[o.name for o in graph.output]}; expected one of each"
        )
    renames = {graph.input[0].name: INPUT_NAME, graph.output[0].name: output_name}
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    graph.input[0].name, graph.output[0].name = INPUT_NAME, output_name
    for value in (graph.input[0], graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = BATCH_DIM
    dims = graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 2 or not dims[0].dim_param or dims[1].dim_value != n_features:
        shown = [d.dim_param or d.dim_value for d in dims]
        raise TrainingError(
            f"exported Keras input has shape {shown}; expected [batch, {n_features}] with a "
            "symbolic batch dimension"
        )
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path
