"""Errors of the compression stage.

    TrainingError (500, trainsmart.errors)
     +-- CompressionError          a variant cannot be built, or the settings cannot work
          +-- NoGpu                compression.target is 'cuda' but ONNX Runtime sees no GPU

A variant whose build fails does not stop training: :mod:`training.compress.build`
records the message in the variant table and serves another variant.
"""

from __future__ import annotations

from trainsmart.errors import TrainingError


class CompressionError(TrainingError):
    """A compressed variant cannot be built (the message says which and why)."""


class NoGpu(CompressionError):
    """``training.compression.target: cuda`` without a usable CUDA provider."""

    def __init__(self, available: list[str]) -> None:
        super().__init__(
            "training.compression.target is 'cuda' but ONNX Runtime offers only "
            f"{available}; install onnxruntime-gpu on a machine with a CUDA GPU, or set "
            "training.compression.target to 'auto' or 'cpu'"
        )
        self.available = available
