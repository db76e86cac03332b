"""The frameworks that train the model, behind one small interface.

``training.framework`` names one; :func:`get_framework` returns its
:class:`~training.frameworks.base.Framework` (fit, predict, export), and everything after
training (export, parity check, metrics, compression, staging, registration, serving)
goes through it without asking which one it holds:

* ``torch`` (:mod:`training.frameworks.pytorch`): the trainer's ``fit``,
  ``Network.predict_proba``, torch.onnx (dynamo);
* ``keras`` (:mod:`training.frameworks.keras`): the Keras trainer's ``fit``,
  ``model(x, training=False)``, ``model.export(path, format="onnx")``.

Shared by both: :mod:`~training.frameworks.base` (the interface, :class:`FitResult`,
:class:`EpochLog`) and :mod:`~training.frameworks.fitting` (class weights, oversampling,
the target scale, the progress bar).

Example::

    framework = get_framework("keras")
    result = framework.fit(x_train, y_train, x_val, y_val, pre, contract, settings.training)
    proba = framework.predict(result.model, x_test)          # numpy [n, 2]
    framework.export(result.model, contract, Path("fp32.onnx"))

Importing this package imports torch (the preprocessing of both frameworks is a torch
module) but never TensorFlow: the Keras modules load it only when a Keras model is built.
"""

from __future__ import annotations

from training.frameworks.base import EpochLog, FitResult, Framework, FrameworkName
from training.frameworks.keras.framework import Keras
from training.frameworks.pytorch.framework import PyTorch
from trainsmart.errors import TrainingError

FRAMEWORKS: dict[str, Framework] = {framework.name: framework for framework in (PyTorch(), Keras())}
"""``training.framework`` value -> its framework."""


def get_framework(name: str) -> Framework:
    """The framework ``training.framework`` names ('torch' or 'keras')."""
    try:
        return FRAMEWORKS[name]
    except KeyError:
        raise TrainingError(
            f"training.framework '{name}' is not one of {', '.join(FRAMEWORKS)}"
        ) from None


__all__ = [
    "FRAMEWORKS",
    "EpochLog",
    "FitResult",
    "Framework",
    "FrameworkName",
    "get_framework",
]
