"""Keras 3 on TensorFlow, the framework of ``training.framework: keras``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.frameworks.base import Framework
from training.frameworks.keras.export import export_keras_onnx
from training.frameworks.keras.models import keras_predict
from training.frameworks.keras.trainer import fit
from trainsmart.registry.contract import InputContract


class Keras(Framework):
    """:func:`~training.frameworks.keras.trainer.fit`, ``model(x, training=False)`` and
    ``model.export(path, format="onnx")``."""

    name = "keras"
    label = "Keras"

    fit = staticmethod(fit)

    def predict(self, model: Any, matrix: np.ndarray) -> np.ndarray:
        return keras_predict(model, matrix)

    def export(self, model: Any, contract: InputContract, path: Path) -> Path:
        return export_keras_onnx(model, len(contract.features), path, contract.output_name)
