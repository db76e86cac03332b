"""Knowledge distillation as variants: ``distilled`` (the student's ONNX export, optimised,
stripped and parity-checked) and ``distilled_int8``, quantized as the other variants are:
dynamic int8 without convolutions, static QDQ int8 (the first of
``training.compression.calibration_methods``) for a CNN. Both enter the variant table
and the budgeted choice (:mod:`training.compress.select`) like any other.

The student and its loop are :mod:`training.compress.student`. PyTorch networks only
(:mod:`training.compress.build` notes a Keras model's distillation as not built).

Example::

    student, built = distilled_variants(trained, settings.training, workdir, parity_rows,
                                        calibration)
    [row.name for row, _ in built]      # ["distilled", "distilled_int8"]
    student.summary(settings.training.compression.distill)   # metrics.json's record
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from training.compress import quantize
from training.compress.counting import count_cost
from training.compress.select import VariantRow
from training.compress.student import Distilled, distill
from training.frameworks import get_framework
from training.frameworks.pytorch.export import export_onnx
from training.onnx_parity import check_parity
from training.settings import TrainingSettings
from training.train import TrainedModel, encode_target
from trainsmart.errors import TrainingError

logger = logging.getLogger(__name__)

DISTILLED = "distilled"
DISTILLED_INT8 = "distilled_int8"


def distilled_variants(
    trained: TrainedModel,
    settings: TrainingSettings,
    workdir: Path,
    parity_rows: np.ndarray,
    calibration: np.ndarray,
) -> tuple[Distilled | None, list[tuple[VariantRow, Path | None]]]:
    """Distil, export, parity-check and quantize the student: the ``distilled`` and
    ``distilled_int8`` rows (a failure becomes the row's error, as for other variants)."""
    row = VariantRow(DISTILLED, "fp32", DISTILLED)
    try:
        validation = trained.splits.validation
        result = distill(
            trained.model,
            trained.encode(trained.train.frame),
            encode_target(trained.train.target, trained.dataset),
            trained.encode(validation.frame),
            encode_target(validation.target, trained.dataset),
            settings,
        )
        student = result.fit.model
        n_features = len(trained.contract.features)
        raw = export_onnx(
            student, n_features, workdir / "distilled.export.onnx", trained.contract.output_name
        )
        prepared = quantize.prepare(raw, workdir / "distilled.prepared.onnx")
        path = quantize.strip(prepared, workdir / f"{DISTILLED}.onnx")
        check_parity(
            functools.partial(get_framework("torch").predict, student),
            path,
            parity_rows,
            settings.parity_tolerance,
            framework="distilled PyTorch",
        )
    except TrainingError as exc:  # CompressionError included; the other variants remain
        logger.warning("compression: %s not built: %s", DISTILLED, exc)
        row.error = str(exc)
        return None, [(row, None)]
    cost = count_cost(student, n_features)
    built: list[tuple[VariantRow, Path | None]] = [(row, path)]
    if settings.quantize:
        built.append(_int8(prepared, workdir, calibration, settings))
    for variant, _ in built:
        variant.params, variant.flops = cost.params, cost.flops
    return result, built


def _int8(
    prepared: Path, workdir: Path, calibration: np.ndarray, settings: TrainingSettings
) -> tuple[VariantRow, Path | None]:
    """``distilled_int8``: dynamic without convolutions, else static QDQ (first method)."""
    cfg = settings.compression
    out = workdir / f"{DISTILLED_INT8}.onnx"
    conv = quantize.has_conv(prepared)
    row = VariantRow(DISTILLED_INT8, "int8 static" if conv else "int8 dynamic", DISTILLED)
    try:
        if not conv:
            return row, quantize.dynamic_int8(prepared, out)
        method = cfg.calibration_methods[0] if cfg.calibration_methods else "minmax"
        row.calibration = method
        return row, quantize.static_int8(
            prepared, out, calibration, method, per_channel=cfg.per_channel
        )
    except TrainingError as exc:
        logger.warning("compression: %s not built: %s", DISTILLED_INT8, exc)
        row.error = str(exc)
        return row, None
