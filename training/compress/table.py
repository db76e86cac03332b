"""The variant table as Markdown (the version's report and the benchmarks).

Reads metrics.json's "variants" section (:func:`training.compress.select.table_json`), so
a report can be rendered again from a registered bundle without the model.

Example::

    lines = variants_markdown(bundle.metrics()["variants"])
    # ["Served: **pruned_fp32**, fastest within the budget: 1.54x fp32's speed ...", "",
    #  "| variant | status | size KiB | ...", ...]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

COLUMNS = (
    "variant",
    "status",
    "size KiB",
    "params",
    "MFLOPs/row",
    "batch 1 ms",
    "batch 64 ms",
    "speed vs fp32",
    "metric",
    "drop",
    "agreement",
    "max diff",
)


def variants_markdown(section: Mapping[str, Any] | None) -> list[str]:
    """The choice, the pruning and a table with one row per variant (empty: none)."""
    if not section or "table" not in section:
        return []
    selection = section.get("selection", {})
    rows: Sequence[Mapping[str, Any]] = section["table"]
    metric = str(selection.get("metric", "accuracy"))
    reference = next((r for r in rows if r.get("name") == "fp32"), None)
    lines = [
        f"Served: **{selection.get('chosen', '?')}**, {selection.get('reason', '')}. "
        f"Objective: {selection.get('objective', '?')}; budget: {metric} at most "
        f"{selection.get('max_metric_drop', '?')} below fp32; measured on "
        f"{selection.get('provider', '?')}. Only the served variant and fp32 (the reference, "
        "`variants/fp32.onnx`) are kept in the bundle.",
        "",
    ]
    pruning = selection.get("pruning")
    if pruning:
        widths = "; ".join(
            f"{k} {v['before']} -> {v['after']}" for k, v in pruning.get("widths", {}).items()
        )
        lines += [
            f"Pruning: {pruning.get('ratio')} of the units removed ({pruning.get('criterion')} "
            f"ranking), then {pruning.get('finetune_epochs')} epochs of fine-tuning: {widths}.",
            "",
        ]
    distillation = selection.get("distillation")
    if distillation:
        lines += [_distillation_line(distillation), ""]
    for name, why in selection.get("skipped", {}).items():
        lines += [f"Not built: {name} ({why}).", ""]
    lines += [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cells(row, reference, metric)) + " |")
    lines += [
        "",
        f"metric: test {metric}; drop: fp32's minus the variant's; agreement: share of test "
        "rows with fp32's class (regression: within a tenth of the outputs' std); max diff: "
        "largest probability (regression: value) difference from fp32; FLOPs: Linear and "
        "Conv layers, per row.",
    ]
    return lines


def _distillation_line(info: Mapping[str, Any]) -> str:
    widths = "; ".join(
        f"{k} {v['before']} -> {v['after']}" for k, v in info.get("widths", {}).items()
    )
    return (
        f"Distillation: a student of {widths}, trained on the teacher's outputs at "
        f"temperature {info.get('temperature')} (weight {info.get('alpha')}) and the labels, "
        f"{info.get('epochs_run')} of at most {info.get('epochs')} epochs (best "
        f"{info.get('best_epoch')})."
    )


def _cells(row: Mapping[str, Any], reference: Mapping[str, Any] | None, metric: str) -> list[str]:
    latency = row.get("latency_ms") or {}
    status = str(row.get("status", "")).replace("|", "/")
    if row.get("gpu_only") and "gpu only" not in status:
        status += " (gpu only)"
    return [
        str(row.get("name")),
        status,
        _num(row.get("file_bytes"), 1 / 1024, ".1f"),
        _num(row.get("params"), 1, ",.0f"),
        _num(row.get("flops"), 1e-6, ".3f"),
        _num(latency.get("batch_1"), 1, ".4f"),
        _num(latency.get("batch_64"), 1, ".4f"),
        _speed(latency, (reference or {}).get("latency_ms") or {}),
        _num((row.get("metrics") or {}).get(metric), 1, ".4f"),
        _num(row.get("metric_drop"), 1, "+.4f"),
        _num(row.get("agreement"), 100, ".1f", "%"),
        _num(row.get("max_abs_diff"), 1, ".3g"),
    ]


def _num(value: Any, scale: float, spec: str, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{float(value) * scale:{spec}}{suffix}"


def _speed(latency: Mapping[str, float], reference: Mapping[str, float]) -> str:
    """fp32's speed over the mean relative latency (as the selection compares them)."""
    ratios = [latency[k] / reference[k] for k in reference if latency.get(k) and reference[k]]
    if not ratios:
        return "-"
    return f"{len(ratios) / sum(ratios):.2f}x"
