"""The Keras models: the same in-graph preprocessing, MLP or CNN and output as the torch ones.

The preprocessing uses the numbers and category codes of a fitted
:class:`training.preprocess.Preprocessor` (fitted on the training split only), so both
frameworks share one fit: NaN -> training
median, ``(x - mean) / std`` per numeric feature; NaN -> training mode, then a one-hot
over the training categories plus an unknown bucket per categorical feature.

Two models share the layers: ``logits`` (trained with a from-logits loss, or the
standardised value for regression) and ``proba`` (softmax, or the value in the target's
units, on top; exported). The preprocessing is a nested model named
``preprocess`` (``proba.get_layer("preprocess")``) so tests can probe it alone.

The ONNX export is :mod:`training.frameworks.keras.export`.

TensorFlow is imported inside :func:`import_keras` only: importing this module costs
nothing.

Example::

    pre = Preprocessor.fit(x_train, contract)
    models = build_models(pre, contract, settings.training)
    keras_predict(models.proba, x_test)               # [n, 2] probabilities
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.frameworks.base import use_cnn
from training.onnx_parity import INPUT_NAME
from training.preprocess import Preprocessor
from training.settings import TrainingSettings
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import InputContract


def import_keras() -> Any:
    """Keras 3 on the TensorFlow backend, or a TrainingError saying how to install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ log noise; errors still raise
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras  # lazy: imports TensorFlow (seconds), an optional extra
        import tensorflow  # noqa: F401  # lazy: the backend must be importable
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
    contract: InputContract,
    settings: TrainingSettings,
    *,
    target_mean: float = 0.0,
    target_std: float = 1.0,
) -> KerasModels:
    """Raw float32 rows ``[n, n_features]`` -> the MLP or CNN ``settings`` describe ->
    logits and probabilities ``[n, n_classes]`` (classification), or the standardised
    value and the value in the target's units ``[n, 1]`` (regression)."""
    keras = import_keras()
    inputs = keras.Input(shape=(len(pre.kinds),), name=INPUT_NAME, dtype="float32")
    hidden = _preprocess(keras, pre)(inputs)
    if use_cnn(contract, settings):
        hidden = _conv_blocks(keras, hidden, list(contract.image_shape or []), settings)
    for size in settings.hidden_sizes:
        hidden = keras.layers.Dense(size, activation="relu")(hidden)
        if settings.dropout > 0:
            hidden = keras.layers.Dropout(settings.dropout)(hidden)
    if contract.task == "regression":
        scaled = keras.layers.Dense(1, name="scaled_value")(hidden)
        value = keras.layers.Rescaling(target_std, offset=target_mean, name="value")(scaled)
        return KerasModels(
            logits=keras.Model(inputs, scaled, name="regressor_scaled"),
            proba=keras.Model(inputs, value, name="regressor"),
        )
    logits = keras.layers.Dense(len(contract.classes), name="logits")(hidden)
    proba = keras.layers.Softmax(name="probabilities")(logits)
    return KerasModels(
        logits=keras.Model(inputs, logits, name="classifier_logits"),
        proba=keras.Model(inputs, proba, name="classifier"),
    )


def _conv_blocks(keras: Any, flat: Any, shape: list[int], settings: TrainingSettings) -> Any:
    """The torch CNN's blocks: flat C-H-W pixels -> image (channels last) -> conv 3x3,
    batch norm, ReLU, max-pool 2x2 per block -> flatten -> dropout."""
    layers = keras.layers
    channels, height, width = shape
    image = layers.Permute((2, 3, 1))(layers.Reshape((channels, height, width))(flat))
    for out_channels in settings.conv_channels:
        image = layers.Conv2D(out_channels, 3, padding="same")(image)
        image = layers.ReLU()(layers.BatchNormalization()(image))
        if min(height, width) >= 2:
            image = layers.MaxPooling2D(2)(image)
            height, width = height // 2, width // 2
    hidden = layers.Flatten()(image)
    return layers.Dropout(settings.dropout)(hidden) if settings.dropout > 0 else hidden


def keras_predict(model: Any, matrix: np.ndarray) -> np.ndarray:
    """Outputs of ``model`` in inference mode (dropout off) for a float32 matrix."""
    keras = import_keras()
    out = model(np.ascontiguousarray(matrix, dtype=np.float32), training=False)
    return np.asarray(keras.ops.convert_to_numpy(out))
