"""A stand-in for CUDA sessions, for tests on machines without a GPU.

This machine has no GPU and the CPU build of ONNX Runtime, so a real CUDA session cannot
exist here. Tests that need one inject :data:`OFFERED` (the providers onnxruntime-gpu
reports on a GPU machine) and a :class:`Factory`: real CPU sessions, and for CUDA a
:class:`StandInCuda` that runs the same graph on ONNX Runtime's CPU provider, reports
CUDA as its provider and records its calls. Nothing else is simulated. On a GPU machine
bench/gpu.py runs the real thing (docs/gpu.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort

from serving.providers import CPU, CUDA, inference_session

OFFERED = [CUDA, CPU]
"""What onnxruntime-gpu reports on a machine with a GPU."""


class StandInCuda:
    """Stands in for a CUDA session, which cannot exist on this CPU-only machine: runs the
    same graph on ONNX Runtime's CPU provider, reports CUDA, records each call's rows."""

    def __init__(self, path: str, options: ort.SessionOptions, providers: list[Any]) -> None:
        self.inner = ort.InferenceSession(path, sess_options=options, providers=[CPU])
        self.path = path
        self.providers = providers
        self.calls: list[int] = []
        self.noise = 0.0
        self.reported = [CUDA, CPU]

    def get_providers(self) -> list[str]:
        return self.reported

    def get_inputs(self) -> Any:
        return self.inner.get_inputs()

    def run(self, names: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.calls.append(len(next(iter(feed.values()))))
        return [out + self.noise for out in self.inner.run(names, feed)]


class Factory:
    """Real CPU sessions; a :class:`StandInCuda` when CUDA is asked for."""

    def __init__(self, noise: float = 0.0, reported: list[str] | None = None) -> None:
        self.cuda: list[StandInCuda] = []
        self.noise = noise
        self.reported = reported

    def __call__(self, path: str, options: ort.SessionOptions, providers: list[Any]) -> Any:
        if any(isinstance(p, tuple) and p[0] == CUDA for p in providers):
            session = StandInCuda(path, options, providers)
            session.noise = self.noise
            session.reported = self.reported or session.reported
            self.cuda.append(session)
            return session
        return inference_session(path, options, providers)
