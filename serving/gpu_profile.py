"""The GPU measurement of one version on one machine, and the precisions it chooses among.

``trainsmart gpu calibrate`` times the version on the CPU and on CUDA and measures each GPU
precision against CPU fp32; the service reads the result when it loads the version
(serving/providers.py). A bundle is immutable (checksummed) and a measurement belongs to
the GPU it was made on, so it lives with the machine's other local state::

    <data_dir>/gpu/<model>/<version>.json        GpuProfile (this schema)
    <data_dir>/gpu/<model>/<version>.fp16.onnx   the fp16 graph, when fp16 was chosen

The precisions, each checked against CPU fp32 on the test rows (max abs difference of
the probabilities; regression: of the values, relative to the largest reference value
when that is above 1)::

    precision  graph                 CUDA provider option   parity tolerance
    fp32       the float graph       use_tf32=0 (exact)     1e-4
    tf32       the float graph       use_tf32=1             2e-3
    fp16       its fp16 conversion   use_tf32=0             1e-2

Example::

    profile = read_profile(settings.paths.gpu, "fair", "v3")   # None: never measured here
    profile.min_rows, profile.precision                        # (1024, "tf32")
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from trainsmart.names import check_name

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "tf32", "fp16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "tf32", "fp16")
PARITY_TOLERANCE: dict[str, float] = {"fp32": 1e-4, "tf32": 2e-3, "fp16": 1e-2}
"""Largest difference from CPU fp32 each precision may show; beyond it, it is refused.
fp32 matches training's ONNX parity check; TF32 keeps 10 mantissa bits (measured up to
1.1e-3 on our bundles, issue J); fp16 keeps 10 too, with a narrower range."""


def cuda_options(precision: str) -> dict[str, str]:
    """The CUDA execution provider's options for ``precision`` (TF32 only for 'tf32')."""
    if precision not in PARITY_TOLERANCE:
        raise ValueError(f"unknown GPU precision '{precision}'; expected one of {PRECISIONS}")
    return {"use_tf32": "1" if precision == "tf32" else "0"}


def within_parity(precision: str, gap: float) -> bool:
    """Whether a difference of ``gap`` from CPU fp32 is within ``precision``'s tolerance
    (NaN never is)."""
    return gap <= PARITY_TOLERANCE[precision]


class GpuProfile(BaseModel):
    """What ``trainsmart gpu calibrate`` measured for one version on this machine."""

    model: str
    version: str
    source: str
    """The bundle file the CUDA graphs come from ('model.onnx', or 'variants/fp32.onnx'
    when the served variant is not a float32 one)."""
    min_rows: int | None
    """Requests of at least this many rows run on CUDA: the smallest measured batch size
    from which CUDA, in ``precision``, beat the CPU at every larger one. None: CUDA won at
    no measured size (or no precision passed its parity check); every request stays on
    the CPU."""
    precision: Precision = "fp32"
    """The precision CUDA serves in: the fastest within training.compression's budget."""
    fp16_file: str | None = None
    """The fp16 graph's file name beside this profile (precision 'fp16' only)."""
    fp16_sha256: str | None = None
    reason: str = ""
    """Why this precision and threshold, in words."""
    device: str = ""
    """The GPU measured (nvidia-smi's name), when known."""
    onnxruntime: str = ""
    """ONNX Runtime's version at measurement; the service warns when it runs another."""
    measured_at: str = ""
    batches: list[int] = []
    cpu_ms: dict[int, float] = {}
    """Median milliseconds per call of the CPU session, by batch size."""
    precisions: list[dict[str, Any]] = []
    """One row per precision: latency by batch, max diff, agreement, metric drop, status."""


def profile_path(root: Path, model: str, version: str) -> Path:
    """Where the measurement of ``model:version`` lives under ``root`` (data_dir/gpu)."""
    return Path(root) / check_name(model, "model") / f"{check_name(version, 'version')}.json"


def read_profile(root: Path | None, model: str, version: str) -> GpuProfile | None:
    """The measurement of ``model:version``, or None when there is none (or it cannot be
    read: then the service serves exact fp32 and says why in the log)."""
    if root is None:
        return None
    path = profile_path(root, model, version)
    if not path.is_file():
        return None
    try:
        profile = GpuProfile.model_validate_json(path.read_text())
    except (OSError, ValidationError) as exc:
        logger.warning(
            "GPU measurement %s cannot be read (%s); serving exact fp32 until "
            "'trainsmart gpu calibrate' measures %s:%s again",
            path,
            " ".join(str(exc).split()),
            model,
            version,
        )
        return None
    if (profile.model, profile.version) != (model, version):
        logger.warning(
            "GPU measurement %s is of %s:%s; ignored", path, profile.model, profile.version
        )
        return None
    return profile


def write_profile(root: Path, profile: GpuProfile) -> Path:
    """Write ``profile`` (atomically: a reader sees the old file or the new one)."""
    path = profile_path(root, profile.model, profile.version)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".json.tmp")
    staged.write_text(profile.model_dump_json(indent=2))
    staged.replace(path)
    return path
