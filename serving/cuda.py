"""A loaded version's CUDA session, opened as serving/providers.py plans it and checked
against the CPU before it serves: it must really run on CUDA (ONNX Runtime falls back to
the CPU silently when CUDA's libraries cannot load) and agree with the CPU fp32 graph
within its precision's parity tolerance (serving/gpu_profile.py) on a probe of two rows.

Example::

    route = open_route(bundle, cpu_session, 8, settings.serving, options, GpuSetup())
    route is None                        # True here: no CUDA provider
    route.pick(cpu_session, 4096)        # on a GPU machine: the CUDA session
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from serving.gpu_profile import PARITY_TOLERANCE, GpuProfile, cuda_options, read_profile
from serving.metrics import ServingMetrics
from serving.providers import (
    CPU,
    CUDA,
    NOT_CUDA,
    CudaUnavailable,
    GpuSetup,
    gpu_source,
    plan_cuda,
)
from serving.settings import ServingSettings
from trainsmart.registry.bundle import Bundle, sha256_file

logger = logging.getLogger(__name__)


def _count(metrics: ServingMetrics | None, model: str, device: str) -> Callable[[float], None]:
    if metrics is None:
        return lambda _: None
    return metrics.inference_rows.labels(model=model, device=device).inc


@dataclass(frozen=True)
class CudaRoute:
    """The CUDA session of a loaded version and the row count from which calls take it."""

    session: Any
    min_rows: int
    precision: str
    count_cpu: Callable[[float], None]
    count_cuda: Callable[[float], None]

    def pick(self, cpu: Any, rows: int) -> Any:
        """The session for a call of ``rows`` rows (``cpu``: the version's CPU session)."""
        if rows >= self.min_rows:
            self.count_cuda(rows)
            return self.session
        self.count_cpu(rows)
        return cpu


def open_route(
    bundle: Bundle,
    cpu: Any,
    width: int,
    settings: ServingSettings,
    options: ort.SessionOptions,
    setup: GpuSetup,
) -> CudaRoute | None:
    """Open ``bundle``'s CUDA session as planned, checked against the CPU (``cpu``: the
    version's CPU session; ``width``: its input features); None: CPU only. Raises
    :class:`CudaUnavailable` when ``serving.device`` is 'cuda' and it cannot be."""
    available = setup.providers()
    wanted = settings.device != "cpu" and CUDA in available
    profile = read_profile(setup.profiles, bundle.name, bundle.version) if wanted else None
    plan = plan_cuda(settings.device, settings.gpu_min_rows, profile, available)
    label = f"{bundle.name}:{bundle.version}"
    if plan.min_rows is None:
        logger.info("ONNX Runtime: %s on CPU (%s)", label, plan.why)
        return None
    if profile is not None and profile.onnxruntime and profile.onnxruntime != ort.__version__:
        logger.warning(
            "%s: the GPU measurement was made with ONNX Runtime %s, this is %s; run "
            "'trainsmart gpu calibrate' again",
            label,
            profile.onnxruntime,
            ort.__version__,
        )
    source = gpu_source(bundle)
    path, precision = _graph(source, plan.precision, profile, setup.profiles, label)
    try:
        session = setup.open_session(str(path), options, [(CUDA, cuda_options(precision)), CPU])
        same = source == bundle.model_path
        reference = cpu if same else setup.open_session(str(source), options, [CPU])
        refusal = _check(session, reference, precision, width)
    except Exception as exc:  # onnxruntime raises its own, non-exported error types
        refusal = f"cannot be opened ({type(exc).__name__}: {' '.join(str(exc).split())})"
    if refusal is not None:
        if settings.device == "cuda":
            raise CudaUnavailable(
                "serving.device is 'cuda'",
                f"the CUDA session of {label} {refusal}",
                f"docs/gpu.md says what CUDA needs; {NOT_CUDA}",
            )
        logger.warning("ONNX Runtime: %s on CPU only: its CUDA session %s", label, refusal)
        return None
    logger.info(
        "ONNX Runtime: %s on CUDA (%s) for calls of %d rows or more, on CPU below (%s)",
        label,
        precision,
        plan.min_rows,
        plan.why,
    )
    return CudaRoute(
        session,
        plan.min_rows,
        precision,
        _count(setup.metrics, bundle.name, "cpu"),
        _count(setup.metrics, bundle.name, "cuda"),
    )


def _graph(
    source: Path, precision: str, profile: GpuProfile | None, root: Path | None, label: str
) -> tuple[Path, str]:
    """The graph file for ``precision``: the float source, or the measured fp16 graph
    (exact fp32 instead when that file is missing or changed)."""
    if precision != "fp16":
        return source, precision
    if profile is not None and root is not None and profile.fp16_file:
        file = Path(root) / profile.model / profile.fp16_file
        if file.is_file() and sha256_file(file) == profile.fp16_sha256:
            return file, "fp16"
    logger.warning(
        "%s: the measured fp16 graph is missing or changed; CUDA serves exact fp32 until "
        "'trainsmart gpu calibrate' runs again",
        label,
    )
    return source, "fp32"


def _check(session: Any, reference: Any, precision: str, width: int) -> str | None:
    """Why a CUDA session cannot serve (None: it can): not on CUDA, or differing from the
    CPU fp32 graph beyond ``precision``'s tolerance on a probe of two rows."""
    providers = list(session.get_providers())
    if not providers or providers[0] != CUDA:
        shown = providers[0] if providers else "no provider"
        return f"runs on {shown}, not CUDA (CUDA's libraries did not load)"
    probe = np.linspace(-1.0, 1.0, 2 * width, dtype=np.float32).reshape(2, width)
    name = reference.get_inputs()[0].name
    expected = np.asarray(reference.run(None, {name: probe})[0], dtype=np.float64)
    got = np.asarray(session.run(None, {session.get_inputs()[0].name: probe})[0])
    gap = float(np.max(np.abs(got.astype(np.float64) - expected)))
    scale = max(1.0, float(np.max(np.abs(expected))))  # regression values: relative
    if not gap / scale <= PARITY_TOLERANCE[precision]:
        return (
            f"differs from the CPU by {gap:.3g} on a probe ({precision} tolerance "
            f"{PARITY_TOLERANCE[precision]:g})"
        )
    return None
