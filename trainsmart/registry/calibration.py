"""A classifier's probability calibration, as a bundle keeps it in ``calibration.json``.

Training fits it on the validation split's probabilities of the served ``model.onnx``
(``training/calibration.py``); the monitor applies it to the probabilities logged with
each served row to estimate the model's performance without labels
(``monitoring/estimate/``). The format lives here, beside the input contract, because
both stages read it and neither may import the other.

Methods:

- ``isotonic``: one isotonic map per class (one-vs-rest), the thresholds stored as arrays
  (``x``, ``y`` per class, applied by linear interpolation, clipped at the ends); the row's
  calibrated probabilities are then renormalised to sum to 1;
- ``temperature``: ``softmax(log(p) / T + b)``, one scalar ``T`` (above 1 softens
  over-confident probabilities) and one bias per class (``b``, the first class's 0):
  bias-corrected temperature scaling, which also undoes a shifted class prior (a model
  trained with class weights over-predicts the rare class);
- ``none``: the probabilities as served.

Example::

    calibration = Calibration.from_bundle(bundle)        # None: an older bundle without one
    calibrated = calibration.apply(probabilities)        # rows x classes, rows sum to 1
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trainsmart.errors import RegistryError
from trainsmart.registry.bundle import CALIBRATION_FILE, Bundle

Method = Literal["isotonic", "temperature", "none"]
EPS = 1e-7


@dataclass(frozen=True)
class Calibration:
    """How to turn a model's probabilities into calibrated ones."""

    method: Method
    classes: list[str]
    temperature: float = 1.0
    """``temperature``: the fitted T."""
    bias: list[float] = field(default_factory=list)
    """``temperature``: the per-class bias b (empty: none)."""
    thresholds: list[tuple[list[float], list[float]]] = field(default_factory=list)
    """``isotonic``: per class (in ``classes`` order), the map's (x, y) thresholds."""
    validation: dict[str, Any] = field(default_factory=dict)
    """How it did on the validation split: rows, ece_before, ece_after, log_loss_before,
    log_loss_after, and each candidate method's cross-fitted log-loss."""

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``probabilities`` (rows x classes)."""
        p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
        if p.ndim != 2 or p.shape[1] != len(self.classes):
            raise ValueError(
                f"probabilities of shape {p.shape} do not match the calibration's "
                f"{len(self.classes)} classes {self.classes}"
            )
        if self.method == "temperature":
            logits = np.log(np.clip(p, EPS, 1.0)) / self.temperature
            if self.bias:
                logits = logits + np.asarray(self.bias, dtype=np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            out: np.ndarray = e / e.sum(axis=1, keepdims=True)
            return out
        if self.method == "isotonic":
            mapped = np.column_stack(
                [np.interp(p[:, k], x, y) for k, (x, y) in enumerate(self.thresholds)]
            )
            total = mapped.sum(axis=1, keepdims=True)
            safe = np.where(total > 0, total, 1.0)
            return np.where(total > 0, mapped / safe, p)
        return p

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "classes": list(self.classes),
            "temperature": self.temperature,
            "bias": list(self.bias),
            "thresholds": {
                c: {"x": list(x), "y": list(y)}
                for c, (x, y) in zip(self.classes, self.thresholds, strict=True)
            }
            if self.method == "isotonic"
            else {},
            "validation": self.validation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        method = data.get("method")
        if method not in ("isotonic", "temperature", "none"):
            raise ValueError(f"unknown calibration method {method!r}")
        classes = [str(c) for c in data["classes"]]
        thresholds: list[tuple[list[float], list[float]]] = []
        if method == "isotonic":
            per_class = data["thresholds"]
            thresholds = [
                ([float(v) for v in per_class[c]["x"]], [float(v) for v in per_class[c]["y"]])
                for c in classes
            ]
        temperature = float(data.get("temperature", 1.0))
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        bias = [float(b) for b in data.get("bias", [])]
        if bias and len(bias) != len(classes):
            raise ValueError(f"{len(bias)} biases for {len(classes)} classes")
        validation = dict(data.get("validation", {}))
        return cls(method, classes, temperature, bias, thresholds, validation)

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> Calibration | None:
        """The bundle's calibration; None for a bundle without ``calibration.json``
        (registered before calibration, or a regression model)."""
        path = bundle.path / CALIBRATION_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RegistryError(
                f"bundle {bundle.name}:{bundle.version} has an unreadable {CALIBRATION_FILE} "
                f"({type(exc).__name__}: {exc}); register the version again"
            ) from exc

    def write(self, folder: Path) -> None:
        """Write ``calibration.json`` into the bundle folder ``folder``."""
        (Path(folder) / CALIBRATION_FILE).write_text(json.dumps(self.to_dict(), indent=2))
