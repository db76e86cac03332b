"""Build every variant of a trained model, measure each, and choose the one to serve.

::

    fp32 export --prepare--> fp32 --> int8_dynamic (no convolutions only)
                                  --> int8_static_{minmax,entropy,percentile} (QDQ)
                                  --> fp16 (GPU only)
    torch model --prune--> fine-tune --export--> pruned_fp32 --> pruned_int8_..., pruned_fp16
    torch model --distil a student--> distilled --> distilled_int8 (when distill.enabled)

Every variant file is written under ``workdir``; the caller copies the chosen one (and
fp32, the reference) into the bundle. A variant that fails to build or run becomes a
row with its error instead of failing the training run; fp32 never fails silently.

Example::

    result = compress(trained, raw_export, settings.training, workdir, seed=42,
                      parity_rows=parity_sample(x_test))
    result.choice.name            # "pruned_fp32"
    result.paths["fp32"]          # workdir / "fp32.onnx"
    result.section()              # metrics.json's "variants"
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.compress import quantize
from training.compress.counting import Cost, count_cost
from training.compress.distill import distilled_variants
from training.compress.errors import CompressionError
from training.compress.measure import measure_variants, on_gpu, target_providers
from training.compress.prune import Pruned, prune_network
from training.compress.select import REFERENCE, Choice, VariantRow, choose, table_json
from training.compress.student import Distilled
from training.frameworks import get_framework
from training.frameworks.pytorch.export import export_onnx
from training.frameworks.pytorch.trainer import fine_tune
from training.metrics import primary_metric
from training.onnx_parity import check_parity
from training.settings import TrainingSettings
from training.train import TrainedModel, encode_target
from trainsmart.errors import TrainingError

logger = logging.getLogger(__name__)

PRUNED = "pruned_"


@dataclass
class Compression:
    """The variants built for one model, their measurements and the choice."""

    rows: list[VariantRow]
    paths: dict[str, Path]
    """Variant name -> file, for the variants that were built."""
    choice: Choice
    providers: list[str]
    selection: dict[str, Any] = field(default_factory=dict)
    """Settings and facts of the choice (objective, budget, metric, provider, skipped)."""
    pruned: Pruned | None = None

    @property
    def chosen_path(self) -> Path:
        return self.paths[self.choice.name]

    def row(self, name: str) -> VariantRow:
        return next(r for r in self.rows if r.name == name)

    def section(self) -> dict[str, Any]:
        """metrics.json's "variants" section."""
        return table_json(self.rows, self.choice, self.selection)


def calibration_rows(trained: TrainedModel, n: int, seed: int) -> np.ndarray:
    """At most ``n`` encoded training rows, drawn with ``seed`` (static int8 ranges)."""
    rows = trained.encode(trained.train.frame)
    if len(rows) > n:
        rows = rows[np.random.default_rng(seed).choice(len(rows), n, replace=False)]
    return np.ascontiguousarray(rows, dtype=np.float32)


def compress(
    trained: TrainedModel,
    raw: Path,
    settings: TrainingSettings,
    workdir: Path,
    *,
    seed: int,
    parity_rows: np.ndarray,
) -> Compression:
    """Build, measure and choose among the variants of ``trained`` (its fp32 ONNX export
    is ``raw``) as ``settings.compression`` says, on the target hardware."""
    cfg = settings.compression
    providers = target_providers(cfg.target)
    gpu = on_gpu(providers)
    workdir.mkdir(parents=True, exist_ok=True)
    torch_model = trained.framework == "torch"
    cost = count_cost(trained.model, len(trained.contract.features)) if torch_model else None
    skipped: dict[str, str] = {}
    built: list[tuple[VariantRow, Path | None]] = []

    fp32_row = VariantRow(REFERENCE, "fp32", REFERENCE)
    _costs(fp32_row, cost)
    try:
        prepared: Path | None = quantize.prepare(raw, workdir / "fp32.prepared.onnx")
    except CompressionError as exc:  # serve the export as it is; nothing derives from it
        logger.warning("compression: %s; serving the unoptimised fp32 export", exc)
        prepared = None
        skipped["optimisation"] = str(exc)
    built.append((fp32_row, quantize.strip(prepared or raw, workdir / "fp32.onnx")))
    conv = quantize.has_conv(raw)
    if cfg.enabled and prepared is not None:
        built += _derived("", prepared, conv, settings, trained, seed, cost, workdir, gpu)
        if settings.quantize and conv:
            skipped["int8_dynamic"] = "conv net: ConvInteger is slower than fp32 Conv on CPU"
    pruned: Pruned | None = None
    if cfg.enabled and cfg.prune_ratio > 0:
        if torch_model:
            pruned, pruned_rows = _pruned(trained, settings, workdir, seed, parity_rows, gpu)
            built += pruned_rows
        else:
            skipped["pruning"] = (
                f"structured pruning knows PyTorch networks, not {trained.framework}"
            )

    distilled: Distilled | None = None
    if cfg.enabled and cfg.distill.enabled:
        if torch_model:
            calibration = calibration_rows(trained, cfg.calibration_rows, seed)
            distilled, distilled_rows = distilled_variants(
                trained, settings, workdir, parity_rows, calibration
            )
            built += distilled_rows
        else:
            skipped["distillation"] = (
                f"distillation trains PyTorch students, not {trained.framework}"
            )
    paths = {row.name: path for row, path in built if path is not None}
    rows = [row for row, _ in built]
    test = trained.splits.test
    x_test, y_test = trained.encode(test.frame), test.target.tolist()
    measure_variants(rows, paths, trained.contract, x_test, y_test, providers, cfg.latency_repeats)
    choice = choose(
        rows,
        objective=cfg.objective,
        max_drop=cfg.max_metric_drop,
        min_speedup=cfg.min_speedup,
        min_agreement=cfg.min_agreement,
        gpu=gpu,
    )
    logger.info("compression: serving %s (%s)", choice.name, choice.reason)
    selection: dict[str, Any] = {
        "objective": cfg.objective,
        "max_metric_drop": cfg.max_metric_drop,
        "metric": primary_metric(trained.contract.task),
        "min_speedup": cfg.min_speedup,
        "min_agreement": cfg.min_agreement,
        "provider": providers[0],
        "skipped": skipped,
    }
    if pruned is not None:
        selection["pruning"] = {
            "ratio": cfg.prune_ratio,
            "criterion": cfg.prune_criterion,
            "finetune_epochs": cfg.prune_finetune_epochs,
            "widths": {k: {"before": b, "after": a} for k, (b, a) in pruned.widths.items()},
        }
    if distilled is not None:
        selection["distillation"] = distilled.summary(cfg.distill)
    return Compression(rows, paths, choice, providers, selection, pruned)


def _costs(row: VariantRow, cost: Cost | None) -> None:
    if cost is not None:
        row.params, row.flops = cost.params, cost.flops


def _derived(
    prefix: str,
    prepared: Path,
    conv: bool,
    settings: TrainingSettings,
    trained: TrainedModel,
    seed: int,
    cost: Cost | None,
    workdir: Path,
    gpu: bool,
) -> list[tuple[VariantRow, Path | None]]:
    """The int8 and fp16 variants of one float variant (``prefix``: '' or 'pruned_')."""
    cfg = settings.compression
    source = f"{prefix}fp32"
    pruned = bool(prefix)
    jobs: list[tuple[VariantRow, Callable[[Path], Path]]] = []
    if settings.quantize and not conv:
        jobs.append(
            (
                VariantRow(f"{prefix}int8_dynamic", "int8 dynamic", source, pruned),
                lambda out: quantize.dynamic_int8(prepared, out),
            )
        )
    if settings.quantize and cfg.calibration_methods:
        calibration = calibration_rows(trained, cfg.calibration_rows, seed)
        for method in cfg.calibration_methods:
            row = VariantRow(f"{prefix}int8_static_{method}", "int8 static", source, pruned)
            row.calibration = method

            def static(out: Path, method: quantize.Method = method) -> Path:
                return quantize.static_int8(
                    prepared, out, calibration, method, per_channel=cfg.per_channel
                )

            jobs.append((row, static))
    if cfg.fp16:
        row = VariantRow(f"{prefix}fp16", "fp16", source, pruned, gpu_only=True)
        jobs.append((row, lambda out: quantize.fp16(prepared, out)))
    built: list[tuple[VariantRow, Path | None]] = []
    for row, build in jobs:
        _costs(row, cost)
        try:
            built.append((row, build(workdir / f"{row.name}.onnx")))
        except CompressionError as exc:
            logger.warning("compression: %s not built: %s", row.name, exc)
            row.error = str(exc)
            built.append((row, None))
    return built


def _pruned(
    trained: TrainedModel,
    settings: TrainingSettings,
    workdir: Path,
    seed: int,
    parity_rows: np.ndarray,
    gpu: bool,
) -> tuple[Pruned | None, list[tuple[VariantRow, Path | None]]]:
    """Prune, fine-tune, export and parity-check the pruned network, then derive its
    int8 and fp16 variants."""
    cfg = settings.compression
    name = f"{PRUNED}fp32"
    row = VariantRow(name, "fp32", name, pruned=True)
    try:
        pruned = prune_network(trained.model, cfg.prune_ratio, cfg.prune_criterion)
        validation = trained.splits.validation
        fine_tune(
            pruned.model,
            trained.encode(trained.train.frame),
            encode_target(trained.train.target, trained.dataset),
            trained.encode(validation.frame),
            encode_target(validation.target, trained.dataset),
            settings,
            cfg.prune_finetune_epochs,
        )
        raw = export_onnx(
            pruned.model,
            len(trained.contract.features),
            workdir / "pruned.export.onnx",
            trained.contract.output_name,
        )
        prepared = quantize.prepare(raw, workdir / "pruned.prepared.onnx")
        path = quantize.strip(prepared, workdir / f"{name}.onnx")
        pytorch = get_framework("torch")
        check_parity(
            functools.partial(pytorch.predict, pruned.model),
            path,
            parity_rows,
            settings.parity_tolerance,
            framework="pruned PyTorch",
        )
    except TrainingError as exc:  # CompressionError included; the unpruned variants remain
        logger.warning("compression: %s not built: %s", name, exc)
        row.error = str(exc)
        return None, [(row, None)]
    _costs(row, pruned.after)
    conv = quantize.has_conv(raw)
    derived = _derived(PRUNED, prepared, conv, settings, trained, seed, pruned.after, workdir, gpu)
    return pruned, [(row, path), *derived]
