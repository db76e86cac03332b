"""PyTorch, the framework of ``training.framework: torch`` (the default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.frameworks.base import Framework
from training.frameworks.pytorch.export import export_onnx
from training.frameworks.pytorch.trainer import fit
from trainsmart.registry.contract import InputContract


class PyTorch(Framework):
    """:func:`~training.frameworks.pytorch.trainer.fit`, ``Network.predict_proba`` and
    torch.onnx (dynamo)."""

    name = "torch"
    label = "PyTorch"

    fit = staticmethod(fit)

    def predict(self, model: Any, matrix: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            rows = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
            out: np.ndarray = model.predict_proba(rows).numpy()
        return out

    def export(self, model: Any, contract: InputContract, path: Path) -> Path:
        return export_onnx(model, len(contract.features), path, contract.output_name)
