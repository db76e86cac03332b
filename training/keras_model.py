"""The Keras classifier: the same in-graph preprocessing, MLP and softmax as the torch one.

The preprocessing uses the numbers and category codes of a fitted
:class:`training.preprocess.Preprocessor` (fitted on the training split only), so both
frameworks share one fit: NaN -> training
median, ``(x - mean) / std`` per numeric feature; NaN -> training mode, then a one-hot
over the training categories plus an unknown bucket per categorical feature.

Two models share the layers: ``logits`` (trained with a from-logits loss) and
``proba`` (softmax on top; exported). The preprocessing is a nested model named
``preprocess`` (``proba.get_layer("preprocess")``) so tests can probe it alone.

Export goes through ``keras_model.export(path, format="onnx")`` (tf2onnx under the hood;
tf2onnx's own Keras converter fails on Keras 3 models); the graph's tensors are then
renamed to the contract's ``input`` and ``probabilities`` and the batch dimension to
``batch``.

TensorFlow is imported inside the functions only: importing this module costs nothing.

Example::

    pre = Preprocessor.fit(x_train, contract)
    models = build_models(pre, hidden_sizes=[64, 32], dropout=0.1, n_classes=2)
    keras_predict(models.proba, x_test)               # [n, 2] probabilities
    export_keras_onnx(models.proba, len(contract.features), Path("fp32.onnx"))
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.export import INPUT_NAME, OUTPUT_NAME
from training.preprocess import Preprocessor
from trainsmart.errors import TrainingError

BATCH_DIM = "batch"


def import_keras() -> Any:
    """Keras 3 on the TensorFlow backend, or a TrainingError saying how to install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ log noise; errors still raise
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras
        import tensorflow  # noqa: F401  (the backend must be importable)
    except ImportError as exc:
        raise TrainingError(
            f"training.framework 'keras' needs TensorFlow and Keras 3 ({exc}); install them "
            "with pip install -e '.[keras]' or set training.framework: torch"
        ) from exc
    if keras.backend.backend() != "tensorflow":
        raise TrainingError(
            f"Keras runs on the '{keras.backend.backend()}' backend; trainsmart exports "
            "through TensorFlow, so set KERAS_BACKEND=tensorflow"
        )
    return keras


@dataclass
class KerasModels:
    """The trained layers seen two ways: logits for the loss, probabilities for export."""

    logits: Any
    proba: Any


def _preprocess(keras: Any, pre: Preprocessor) -> Any:
    ops = keras.ops
    stats = pre.statistics()
    raw = keras.Input(shape=(len(pre.kinds),), name="raw", dtype="float32")
    parts: list[Any] = []
    if pre.numeric_columns:
        numeric = ops.take(raw, np.array(pre.numeric_columns, dtype=np.int32), axis=1)
        median = np.array(stats["median"], dtype=np.float32)
        numeric = ops.where(ops.isnan(numeric), median, numeric)
        mean = np.array(stats["mean"], dtype=np.float32)
        std = np.array(stats["std"], dtype=np.float32)
        parts.append((numeric - mean) / std)
    for k, column in enumerate(pre.categorical_columns):
        codes = getattr(pre, f"codes_{k}").numpy().astype(np.float32)
        value = raw[:, column : column + 1]
        value = ops.where(ops.isnan(value), np.float32(stats["mode"][k]), value)
        one_hot = ops.cast(ops.equal(value, codes), "float32")
        parts += [one_hot, 1.0 - ops.sum(one_hot, axis=1, keepdims=True)]
    return keras.Model(raw, ops.concatenate(parts, axis=1), name="preprocess")


def build_models(
    pre: Preprocessor,
    *,
    hidden_sizes: list[int],
    dropout: float,
    n_classes: int,
) -> KerasModels:
    """Raw float32 rows ``[n, n_features]`` -> logits / probabilities ``[n, n_classes]``."""
    keras = import_keras()
    inputs = keras.Input(shape=(len(pre.kinds),), name=INPUT_NAME, dtype="float32")
    hidden = _preprocess(keras, pre)(inputs)
    for size in hidden_sizes:
        hidden = keras.layers.Dense(size, activation="relu")(hidden)
        if dropout > 0:
            hidden = keras.layers.Dropout(dropout)(hidden)
    logits = keras.layers.Dense(n_classes, name="logits")(hidden)
    proba = keras.layers.Softmax(name=OUTPUT_NAME)(logits)
    return KerasModels(
        logits=keras.Model(inputs, logits, name="classifier_logits"),
        proba=keras.Model(inputs, proba, name="classifier"),
    )


def keras_predict(model: Any, matrix: np.ndarray) -> np.ndarray:
    """Outputs of ``model`` in inference mode (dropout off) for a float32 matrix."""
    keras = import_keras()
    out = model(np.ascontiguousarray(matrix, dtype=np.float32), training=False)
    return np.asarray(keras.ops.convert_to_numpy(out))


def export_keras_onnx(model: Any, n_features: int, path: Path) -> Path:
    """Write ``model`` as ONNX with the contract's tensor names and a dynamic batch."""
    import onnx

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
    renames = {graph.input[0].name: INPUT_NAME, graph.output[0].name: OUTPUT_NAME}
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    graph.input[0].name, graph.output[0].name = INPUT_NAME, OUTPUT_NAME
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
