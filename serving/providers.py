"""Which ONNX Runtime session answers a call: the CPU for small requests, CUDA for large
batches.

At batch 1 a GPU loses to the CPU (launches and copies: 0.12-0.20 ms against 0.02-0.07 ms
on our bundles, issue J); at batch 8192 it wins (9.5x on the digits CNN). So a loaded
version always keeps its CPU session and, when CUDA can be used, a CUDA session beside it
(:class:`serving.cuda.CudaRoute`); a call of ``rows`` rows runs on CUDA when ``rows >= min_rows``.
Without CUDA there is no route: a call costs one attribute test more than before.

    serving.device   CUDA offered             CUDA not offered
    cpu              CPU only                 CPU only
    auto             by size (min_rows)       CPU only, said in the log
    cuda             every call on CUDA       the version is refused (CudaUnavailable)

``min_rows``: ``serving.gpu_min_rows`` when set, else the threshold ``trainsmart gpu
calibrate`` measured for this version on this machine (serving/gpu_profile.py), else
:data:`DEFAULT_GPU_MIN_ROWS`. Precision: the measured choice, else exact fp32
(``use_tf32=0``). serving/cuda.py opens the CUDA session and checks it against the CPU.

Example::

    plan = plan_cuda("auto", None, None, available=[CUDA, CPU])
    plan.min_rows, plan.precision      # (256, "fp32")
    device_for(8, plan.min_rows)       # "cpu"
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from serving.gpu_profile import GpuProfile
from serving.metrics import ServingMetrics
from serving.settings import ServingSettings
from trainsmart.errors import TrainsmartError
from trainsmart.registry.bundle import Bundle

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEFAULT_GPU_MIN_ROWS = 256
"""Rows from which a call runs on CUDA until ``trainsmart gpu calibrate`` has measured the
version here. Not a measurement: issue J timed our bundles at 1 row (the CPU won) and 8192
(CUDA won), ResNet-18 also at 64 (CUDA won); 256 errs towards the CPU for small models."""
FP32_REFERENCE = "variants/fp32.onnx"

SessionFactory = Callable[[str, ort.SessionOptions, list[Any]], Any]
"""(model path, options, providers) -> an ``InferenceSession`` (or a test's stand-in)."""


INSTALL = (
    "install onnxruntime-gpu in place of onnxruntime on a machine with an NVIDIA GPU (docs/gpu.md)"
)
NOT_CUDA = "or set serving.device to auto or cpu"


class CudaUnavailable(TrainsmartError):
    """CUDA was asked for but ONNX Runtime cannot use it here."""

    def __init__(self, asked_by: str, problem: str, remedy: str = INSTALL) -> None:
        super().__init__(f"{asked_by}, but {problem}; {remedy}")


def not_offered(available: Sequence[str]) -> str:
    """The problem when ONNX Runtime lists no CUDA provider."""
    return f"CUDA is not available to ONNX Runtime here (providers: {', '.join(available)})"


@dataclass(frozen=True)
class CudaPlan:
    """What to open on CUDA for one version; ``min_rows`` None: nothing (CPU only)."""

    min_rows: int | None
    precision: str
    why: str


def plan_cuda(
    device: str, gpu_min_rows: int | None, profile: GpuProfile | None, available: Sequence[str]
) -> CudaPlan:
    """Whether and how calls go to CUDA, from ``serving.device``, ``serving.gpu_min_rows``,
    this machine's measurement and the providers ONNX Runtime offers."""
    if device == "cpu":
        return CudaPlan(None, "fp32", "serving.device is 'cpu'")
    if CUDA not in available:
        if device == "cuda":
            raise CudaUnavailable(
                "serving.device is 'cuda'", not_offered(available), f"{INSTALL}; {NOT_CUDA}"
            )
        return CudaPlan(None, "fp32", "no CUDA provider available")
    precision = profile.precision if profile is not None else "fp32"
    if device == "cuda":
        return CudaPlan(1, precision, "serving.device is 'cuda': every call")
    if gpu_min_rows is not None:
        return CudaPlan(gpu_min_rows, precision, f"from {gpu_min_rows} rows (serving.gpu_min_rows)")
    if profile is None:
        return CudaPlan(
            DEFAULT_GPU_MIN_ROWS,
            "fp32",
            f"not measured on this machine: exact fp32 from {DEFAULT_GPU_MIN_ROWS} rows "
            "('trainsmart gpu calibrate' measures the threshold and the precision)",
        )
    if profile.min_rows is None:
        return CudaPlan(None, precision, f"measured: {profile.reason or 'CUDA never faster'}")
    return CudaPlan(profile.min_rows, precision, f"measured from {profile.min_rows} rows")


def device_for(rows: int, min_rows: int | None) -> str:
    """'cuda' or 'cpu': where a call of ``rows`` rows runs (what :meth:`CudaRoute.pick` does)."""
    return "cuda" if min_rows is not None and rows >= min_rows else "cpu"


def gpu_source(bundle: Bundle) -> Path:
    """The float32 graph CUDA runs: model.onnx when the served variant is float32 (fp32,
    pruned_fp32, distilled), else the bundle's fp32 reference (int8 and fp16 variants were chosen
    for the hardware training measured on; their precisions on a GPU are measured here)."""
    variant = bundle.lineage().serving_variant
    reference = bundle.path / FP32_REFERENCE
    if variant.endswith("fp32") or variant == "distilled" or not reference.is_file():
        return bundle.model_path
    return reference


OPTIMIZATION = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
"""``serving.ort_graph_optimization`` -> ONNX Runtime's level."""


def session_options(settings: ServingSettings) -> ort.SessionOptions:
    """Session options as ``serving`` sets them (threads, graph optimisation)."""
    options = ort.SessionOptions()
    if settings.ort_intra_op_threads:
        options.intra_op_num_threads = settings.ort_intra_op_threads
    if settings.ort_inter_op_threads:
        options.inter_op_num_threads = settings.ort_inter_op_threads
    options.graph_optimization_level = OPTIMIZATION[settings.ort_graph_optimization]
    return options


def inference_session(path: str, options: ort.SessionOptions, providers: list[Any]) -> Any:
    """ONNX Runtime's session; CUDA's libraries from pip packages are preloaded first."""
    if any((p[0] if isinstance(p, tuple) else p) == CUDA for p in providers):
        _preload_cuda()
    return ort.InferenceSession(path, sess_options=options, providers=providers)


@functools.cache
def _preload_cuda() -> None:
    """Load CUDA and cuDNN from the nvidia-* wheels onnxruntime-gpu depends on (a no-op
    where they are on the library path already, or absent)."""
    preload = getattr(ort, "preload_dlls", None)  # onnxruntime >= 1.21
    if preload is not None:
        preload()


@dataclass
class GpuSetup:
    """What loading a version needs to open CUDA sessions (defaults: this machine)."""

    profiles: Path | None = None
    """Where ``trainsmart gpu calibrate`` wrote its measurements (data_dir/gpu); None:
    none are read, CUDA serves exact fp32 from the default threshold."""
    metrics: ServingMetrics | None = None
    """Counts rows by device (trainsmart_inference_rows_total) where a route exists."""
    available: Sequence[str] | None = None
    """The providers ONNX Runtime offers; None: ``onnxruntime.get_available_providers()``."""
    open_session: SessionFactory = inference_session

    def providers(self) -> list[str]:
        return list(ort.get_available_providers() if self.available is None else self.available)
