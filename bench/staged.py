"""One trained and staged model of the compression benchmark (bench/compression.py,
bench/cnn.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.compute import engine_latencies


@dataclass
class Model:
    """One trained and staged model of the benchmark."""

    key: str
    title: str
    trained: Any
    staged: Any

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.staged.metrics["variants"]["table"]}

    def file(self, name: str) -> Path:
        return Path(self.staged.path / "variants" / f"{name}.onnx")

    @property
    def rows(self) -> np.ndarray:
        """The encoded test rows every engine is timed on."""
        rows: np.ndarray = self.trained.encode(self.trained.splits.test.frame)
        return rows

    def latencies(self, engines: dict[str, Any], batch: int) -> dict[str, float]:
        return engine_latencies(self.rows, engines, batch)
