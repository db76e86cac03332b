"""Compression: the served variant vs PyTorch eager, pruning's pay-off, compute efficiency.

:func:`compression_section` trains the default Fair MLP and the digits CNN
(configs/digits.yaml) with ``training.compression`` on, stages them with every variant
kept, and returns Markdown lines: each model's variant table, the served model against
PyTorch eager fp32 on the same rows (speed-up at batch 1, accuracy lost, size on disk
against ``torch.save(state_dict)``), the pruned int8 CNN against the unpruned int8 CNN,
and the CNN's achieved compute against a numpy float32 matmul of similar FLOPs. A missed
target is reported with the measurement that explains it.

Example::

    lines = compression_section(Path(tempfile.mkdtemp()))
    print("\\n".join(lines))
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import onnx
import torch

from apps.settings import load_settings
from bench.cnn import compute_section, pruning_section
from bench.compute import compute_split, cpu_session, op_profiles, verdict
from bench.staged import Model
from training.compress.select import VariantRow, choose
from training.compress.table import variants_markdown

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"mlp": 3.0, "cnn": 2.5}
"""Speed-up of the served variant over PyTorch eager fp32 at batch 1."""
MAX_POINTS_LOST = 1.0
SIZE_TARGET = 3.5


def compression_section(workdir: Path) -> list[str]:
    """Markdown lines of the compression benchmark (trains two models in ``workdir``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    models = [
        _stage(workdir, "mlp", "### Fair MLP (default settings)", None),
        _stage(workdir, "cnn", "### Digits CNN (configs/digits.yaml)", "digits.yaml"),
    ]
    lines = [
        "## Compression: the variants, the served model and what pruning buys",
        "",
        "Each model is trained with `training.compression` on (defaults: objective speed, "
        "budget 1 accuracy point, prune ratio 0.5) and every variant is measured in ONNX "
        "Runtime on this machine's CPU (interleaved, median). The table is the one stored "
        "in the bundle's metrics.json and report.",
    ]
    for model in models:
        lines += ["", model.title, "", *variants_markdown(model.staged.metrics["variants"])]
        lines += ["", *_served_vs_eager(model)]
    cnn = models[1]
    lines += ["", *pruning_section(cnn, workdir), "", *compute_section(cnn)]
    return lines


def _stage(workdir: Path, key: str, title: str, config: str | None) -> Model:
    from training.staging import stage_model  # lazy: imports torch
    from training.train import train_model  # lazy: imports torch

    base = (ROOT / "configs" / config).read_text() if config else ""
    path = workdir / f"{key}.yaml"
    path.write_text(base + f"\ndata_dir: {workdir / key}\n")
    scope = load_settings(path).training_scope()
    trained = train_model(scope, progress=False)
    staged = stage_model(scope, trained, workdir / key / "staging", keep_variants=True)
    return Model(key, title, trained, staged)


def _state_dict_bytes(module: Any) -> int:

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return len(buffer.getvalue())


def _served_vs_eager(model: Model) -> list[str]:
    trained, staged = model.trained, model.staged
    served = staged.serving_variant
    trained.model.eval()
    eager, onnx = "pytorch eager fp32", f"onnxruntime {served}"
    engines = {eager: trained.model, onnx: cpu_session(staged.path / "model.onnx")}
    speed = {b: model.latencies(engines, b) for b in (1, 64)}
    speedup = {b: per[eager] / per[onnx] for b, per in speed.items()}
    framework = staged.metrics[trained.framework]["accuracy"]
    lost = 100 * (framework - staged.metrics["serving"]["accuracy"])
    torch_bytes = _state_dict_bytes(trained.model)
    onnx_bytes = (staged.path / "model.onnx").stat().st_size
    ratio = torch_bytes / onnx_bytes
    small = _size_choice(staged.metrics["variants"])
    small_ratio = torch_bytes / model.file(small).stat().st_size
    target = TARGETS[model.key]
    lines = [
        f"Served **{served}** vs PyTorch eager fp32 (the trained module), same test rows:",
        "",
        "| | measured | target | |",
        "|---|---|---|---|",
        f"| speed-up at batch 1 | {speedup[1]:.2f}x ({speed[1][eager]:.4f} ms -> "
        f"{speed[1][onnx]:.4f} ms) | >= {target:g}x | {verdict(speedup[1] >= target)} |",
        f"| speed-up at batch 64 | {speedup[64]:.2f}x ({speed[64][eager]:.4f} ms -> "
        f"{speed[64][onnx]:.4f} ms) | - | |",
        f"| accuracy lost ({trained.framework} {framework:.4f}) | {lost:+.2f} points | "
        f"<= {MAX_POINTS_LOST:g} | {verdict(lost <= MAX_POINTS_LOST)} |",
        f"| size on disk (state_dict {torch_bytes:,} B / model.onnx {onnx_bytes:,} B) | "
        f"{ratio:.2f}x smaller | >= {SIZE_TARGET:g}x | {verdict(ratio >= SIZE_TARGET)} |",
        f"| size with `objective: size` ({small}, same budget) | {small_ratio:.2f}x smaller | "
        f">= {SIZE_TARGET:g}x | {verdict(small_ratio >= SIZE_TARGET)} |",
    ]
    notes = []
    if speedup[1] < target:
        why = _op_note(staged.path / "model.onnx", model, 1)
        notes.append(f"Speed-up missed by {target / speedup[1]:.2f}x: {why}")
    if lost > MAX_POINTS_LOST:
        notes.append(f"Accuracy target missed by {lost - MAX_POINTS_LOST:.2f} points.")
    if ratio < SIZE_TARGET:
        weights = _initializer_bytes(staged.path / "model.onnx")
        notes.append(
            f"Size missed by {SIZE_TARGET / ratio:.2f}x with `objective: speed`: the served "
            f"{served} keeps {weights:,} B of weights ({weights / onnx_bytes:.0%} of the file; "
            f"the state_dict holds {_tensor_bytes(trained.model):,} B of fp32 tensors), since "
            "no smaller variant was enough faster on this CPU to be served (table above). "
            f"`objective: size` would serve {small}: {small_ratio:.2f}x smaller."
        )
    return [*lines, *(["", *notes] if notes else [])]


def _size_choice(section: dict[str, Any]) -> str:
    """What ``objective: size`` serves from the same measurements and budget."""
    rows = []
    for data in section["table"]:
        latency = {int(k.split("_")[1]): v for k, v in data["latency_ms"].items()}
        rows.append(VariantRow(**{**data, "latency_ms": latency}))
    selection = section["selection"]
    return choose(
        rows,
        objective="size",
        max_drop=selection["max_metric_drop"],
        min_speedup=selection["min_speedup"],
        min_agreement=selection["min_agreement"],
        gpu=selection["provider"] == "CUDAExecutionProvider",
    ).name


def _initializer_bytes(path: Path) -> int:

    return sum(len(i.SerializeToString()) for i in onnx.load(str(path)).graph.initializer)


def _tensor_bytes(module: Any) -> int:
    return sum(int(t.numel()) * t.element_size() for t in module.state_dict().values())


def _op_note(path: Path, model: Model, batch: int) -> str:
    rows = model.trained.encode(model.trained.splits.test.frame)
    profile = op_profiles({"served": path}, rows, batch)["served"]
    compute, other = compute_split(profile)
    top = ", ".join(f"{k} {v:.1f} us" for k, v in list(profile.items())[:4])
    return (
        f"ONNX Runtime's profiler puts {compute:.1f} us per run in Conv/Gemm kernels and "
        f"{other:.1f} us in the others ({top})."
    )
