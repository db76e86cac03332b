"""``trainsmart gpu calibrate``'s wiring: measure a version on this machine's GPU and write
what the service reads when it loads that version (serving/gpu_profile.py).

1. Graphs: the float32 graph CUDA runs (``serving.providers.gpu_source``) and its fp16
   conversion (``training.compress.quantize.fp16``).
2. Sessions, opened as the service opens them (``serving.*`` thread and optimisation
   settings): the CPU session serving runs (model.onnx), the CPU fp32 reference, one CUDA
   session per precision (``serving.gpu_profile.cuda_options``).
3. Rows: the test split of the configured dataset, encoded by the version's contract
   (labels give the metric drop); when it cannot be loaded, the bundle's reference sample,
   unlabelled, so that only exact fp32 can be chosen.
4. Measure and choose (``training.compress.gpu``) within ``training.compression``'s
   budget; write the profile, and the fp16 graph when fp16 is chosen.

Example::

    profile = calibrate(settings, registry, None, repeats=30)
    profile.min_rows, profile.precision, profile.reason
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import onnxruntime as ort

from apps.settings import Settings
from serving.gpu_profile import (
    PARITY_TOLERANCE,
    PRECISIONS,
    GpuProfile,
    Precision,
    cuda_options,
    profile_path,
    write_profile,
)
from serving.providers import (
    CPU,
    CUDA,
    CudaUnavailable,
    GpuSetup,
    gpu_source,
    not_offered,
    session_options,
)
from training.compress import quantize
from training.compress.errors import CompressionError
from training.compress.gpu import BATCHES, choose_precision, measure_precisions
from training.data.load import load_dataset
from training.data.split import clean, split
from training.encoding import encode_frame
from trainsmart.errors import RegistryError, TrainingError
from trainsmart.registry import Bundle, InputContract, Registry
from trainsmart.registry.bundle import sha256_file

logger = logging.getLogger(__name__)

ASKED = "trainsmart gpu calibrate measures the GPU"


def calibrate(
    settings: Settings,
    registry: Registry,
    version: str | None,
    *,
    repeats: int,
    batches: Sequence[int] = BATCHES,
    setup: GpuSetup | None = None,
) -> GpuProfile:
    """Measure ``version`` (default: production) of ``settings.model_name`` on CPU and CUDA
    and write its profile under ``settings.paths.gpu``. ``setup``: the providers offered and
    the session factory (defaults: this machine)."""
    setup = setup or GpuSetup()
    available = setup.providers()
    if CUDA not in available:
        raise CudaUnavailable(ASKED, not_offered(available))
    name = settings.model_name
    version = version or registry.production(name)
    if version is None:
        raise RegistryError(f"model '{name}' has no production version; pass --version")
    bundle = registry.get(name, version)
    bundle.verify()
    contract = bundle.contract()
    rows, labels, described = _rows(settings, bundle, contract)
    source = gpu_source(bundle)
    options = session_options(settings.serving)
    root = settings.paths.gpu
    with tempfile.TemporaryDirectory(prefix="trainsmart-gpu-") as tmp:
        graphs = {"fp32": source, "tf32": source, "fp16": Path(tmp) / "fp16.onnx"}
        try:
            quantize.fp16(source, graphs["fp16"])
        except CompressionError as exc:
            logger.warning("gpu calibrate: no fp16 graph: %s", exc)
            del graphs["fp16"]
        cuda: dict[str, Any] = {
            p: setup.open_session(str(graphs[p]), options, [(CUDA, cuda_options(p)), CPU])
            for p in PRECISIONS
            if p in graphs
        }
        cpu = setup.open_session(str(bundle.model_path), options, [CPU])
        reference = (
            cpu if source == bundle.model_path else setup.open_session(str(source), options, [CPU])
        )
        not_cuda = [p for p, s in cuda.items() if s.get_providers()[:1] != [CUDA]]
        if not_cuda:
            raise CudaUnavailable(
                ASKED,
                f"its CUDA sessions ({', '.join(not_cuda)}) fell back to the CPU: CUDA's or "
                "cuDNN's libraries did not load",
                "docs/gpu.md says how to bring them (nvidia-* wheels, onnxruntime.preload_dlls)",
            )
        compression = settings.training.compression
        measured = measure_precisions(
            cpu,
            reference,
            cuda,
            contract,
            rows,
            labels,
            PARITY_TOLERANCE,
            repeats=repeats,
            batches=batches,
        )
        choice = choose_precision(
            measured,
            max_drop=compression.max_metric_drop,
            min_speedup=compression.min_speedup,
            min_agreement=compression.min_agreement,
        )
        profile = GpuProfile(
            model=name,
            version=version,
            source=str(source.relative_to(bundle.path)),
            min_rows=choice.min_rows,
            precision=cast(Precision, choice.precision),
            reason=f"{choice.reason}; measured on {described}",
            device=_gpu_name(),
            onnxruntime=ort.__version__,
            measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            batches=list(batches),
            cpu_ms=measured.cpu_ms,
            precisions=[row.to_json() for row in measured.rows],
        )
        kept = profile_path(root, name, version).with_suffix(".fp16.onnx")
        kept.unlink(missing_ok=True)  # an earlier measurement's
        if choice.precision == "fp16" and choice.min_rows is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(graphs["fp16"], kept)
            profile.fp16_file, profile.fp16_sha256 = kept.name, sha256_file(kept)
    write_profile(root, profile)
    return profile


def _rows(
    settings: Settings, bundle: Bundle, contract: InputContract
) -> tuple[np.ndarray, list[Any] | None, str]:
    """(encoded rows, their labels or None, what they are in words)."""
    try:
        dataset, _ = clean(load_dataset(settings.data), settings.data)
        test = split(dataset, settings.data).test
        return (
            encode_frame(test.frame, contract),
            test.target.tolist(),
            f"the {len(test)} test rows of data.dataset '{settings.data.dataset}'",
        )
    except (TrainingError, OSError, ValueError) as exc:
        frame = bundle.reference()
        logger.warning(
            "gpu calibrate: the test split cannot be used (%s); measuring on the bundle's "
            "%d reference rows, unlabelled: only exact fp32 can be chosen",
            exc,
            len(frame),
        )
        return encode_frame(frame, contract), None, f"{len(frame)} unlabelled reference rows"


def _gpu_name() -> str:
    """The first GPU's name from nvidia-smi ('' when it cannot say)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0].strip() if out.strip() else ""


def markdown(profile: GpuProfile) -> list[str]:
    """The measurement as Markdown: latency by batch size on the CPU and per precision on
    CUDA, then each precision's parity, agreement, metric drop and status."""
    batches = profile.batches
    lines = [
        f"GPU: {profile.device or 'unknown'}; ONNX Runtime {profile.onnxruntime}; "
        f"{profile.model}:{profile.version} ({profile.source})",
        "",
        "| ms per call | " + " | ".join(f"b{b}" for b in batches) + " |",
        "|---|" + "---|" * len(batches),
        "| CPU | " + " | ".join(_ms(profile.cpu_ms.get(b)) for b in batches) + " |",
    ]
    for row in profile.precisions:
        latency = row.get("latency_ms") or {}
        cells = " | ".join(_ms(latency.get(f"batch_{b}")) for b in batches)
        lines.append(f"| CUDA {row['name']} | {cells} |")
    lines += ["", "| precision | tolerance | max diff | agreement | metric drop | status |"]
    lines.append("|---|---|---|---|---|---|")
    for row in profile.precisions:
        name = str(row["name"])
        lines.append(
            f"| {name} | {PARITY_TOLERANCE[name]:g} | {_num(row.get('max_abs_diff'), '.3g')} | "
            f"{_num(row.get('agreement'), '.2%')} | {_num(row.get('metric_drop'), '+.4f')} | "
            f"{str(row.get('status', '')).replace('|', '/')} |"
        )
    threshold = "never" if profile.min_rows is None else f"from {profile.min_rows} rows"
    lines += ["", f"Serving: CUDA {profile.precision} {threshold}. {profile.reason}."]
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(float(value), spec)
