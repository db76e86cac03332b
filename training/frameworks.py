"""The seam between the training loop and the framework that trains the model.

Everything after training (export, parity check, metrics, quantization, staging,
registration, serving) goes through these three functions and never asks which
framework it holds; ``training.framework`` picks one of:

* ``torch``: :func:`training.trainer.fit`, ``Network.predict_proba``, torch.onnx (dynamo);
* ``keras``: :func:`training.keras_trainer.fit`, ``model(x, training=False)``,
  ``model.export(path, format="onnx")`` (:mod:`training.keras_model`).

Example::

    result = fit_function("keras")(x_train, y_train, x_val, y_val, pre, contract, settings.training)
    proba = predict_proba("keras", result.model, x_test)          # numpy [n, 2]
    export_fp32("keras", result.model, contract, Path("fp32.onnx"))

Neither torch-only nor TensorFlow-only code is imported here at module level: the
Keras modules (and TensorFlow) load only when the framework is 'keras'.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trainsmart.registry.contract import InputContract

Framework = Literal["torch", "keras"]
LABELS: dict[str, str] = {"torch": "PyTorch", "keras": "Keras"}
"""Framework name -> how messages name it."""


def fit_function(framework: Framework) -> Callable[..., Any]:
    """The ``fit(x_train, y_train, x_val, y_val, preprocessor, contract, settings, ...)``
    of ``framework``; both return a :class:`training.trainer.FitResult`."""
    if framework == "keras":
        from training.keras_trainer import fit as keras_fit

        return keras_fit
    from training.trainer import fit

    return fit


def predict_proba(framework: Framework, model: Any, matrix: np.ndarray) -> np.ndarray:
    """Class probabilities ``[n, n_classes]`` (or values ``[n, 1]`` for regression) of a
    trained model, in inference mode."""
    if framework == "keras":
        from training.keras_model import keras_predict

        return keras_predict(model, matrix)
    import torch

    with torch.no_grad():
        out: np.ndarray = model.predict_proba(torch.from_numpy(_float32(matrix))).numpy()
    return out


def export_fp32(framework: Framework, model: Any, contract: InputContract, path: Path) -> Path:
    """Write the model as ONNX (``input`` -> the contract's output, dynamic batch)."""
    n_features = len(contract.features)
    if framework == "keras":
        from training.keras_model import export_keras_onnx

        return export_keras_onnx(model, n_features, path, contract.output_name)
    from training.export import export_onnx

    return export_onnx(model, n_features, path, contract.output_name)


def _float32(matrix: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(matrix, dtype=np.float32)
