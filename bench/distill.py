"""Distillation against pruning at the same FLOPs, on the digits CNN.

configs/digits.yaml's CNN (conv [32, 64], head [64]) is trained once and compressed with
both: structured pruning of half the units and channels followed by fine-tuning
(``prune_ratio: 0.5``) and a half-width student distilled from it
(``distill.width_fraction: 0.5``). Both give the same network shape, so their FLOPs are
equal and the table compares what each method makes of it: test accuracy, file size and
ONNX Runtime latency at batch 1 and 64 (measured by training.compress.measure, interleaved,
median, on this machine's CPU), fp32 and int8 (static QDQ, minmax calibration: the other
calibration methods are left out to keep the run short).

Example::

    python -m bench.distill        # prints the Markdown section (about 1-3 minutes)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from apps.settings import load_settings
from training.compress.select import VariantRow

ROOT = Path(__file__).resolve().parents[1]
PAIRS = (("pruned_fp32", "distilled"), ("pruned_int8_static_minmax", "distilled_int8"))


def _settings(workdir: Path) -> Any:
    base = (ROOT / "configs" / "digits.yaml").read_text()
    path = workdir / "distill.yaml"
    path.write_text(base + f"\ndata_dir: {workdir / 'data'}\n")
    scope = load_settings(path).training_scope()
    compression = scope.training.compression.model_copy(
        update={"calibration_methods": ["minmax"], "fp16": False}
    )
    distill = compression.distill.model_copy(update={"enabled": True, "width_fraction": 0.5})
    compression = compression.model_copy(update={"prune_ratio": 0.5, "distill": distill})
    training = scope.training.model_copy(update={"compression": compression})
    return scope.model_copy(update={"training": training})


def section(workdir: Path | None = None) -> list[str]:
    """Markdown lines: the pruned and distilled variants side by side, and the verdict."""
    # lazy: torch, for the tools that only list the sections
    from training.compress.build import compress
    from training.frameworks import get_framework  # lazy: as above
    from training.onnx_parity import parity_sample  # lazy: as above
    from training.train import train_model  # lazy: as above

    workdir = workdir or Path(tempfile.mkdtemp(prefix="bench-distill-"))
    workdir.mkdir(parents=True, exist_ok=True)
    scope = _settings(workdir)
    started = time.perf_counter()
    trained = train_model(scope, progress=False)
    trained_s = time.perf_counter() - started
    raw = get_framework("torch").export(trained.model, trained.contract, workdir / "raw.onnx")
    sample = parity_sample(trained.encode(trained.splits.test.frame))
    started = time.perf_counter()
    result = compress(
        trained, raw, scope.training, workdir / "variants", seed=scope.data.seed, parity_rows=sample
    )
    compress_s = time.perf_counter() - started
    rows = {row.name: row for row in result.rows}
    selection = result.section()["selection"]
    widths = selection.get("distillation", {}).get("widths", {})
    lines = [
        "## 9. Distillation against pruning, same FLOPs (digits CNN)",
        "",
        "configs/digits.yaml's CNN, trained once "
        f"({trained_s:.0f} s); pruning: half of each layer's units removed, "
        f"{scope.training.compression.prune_finetune_epochs} epochs of fine-tuning; "
        "distillation: a half-width student trained from scratch on the teacher's outputs "
        f"(T {scope.training.compression.distill.temperature}, alpha "
        f"{scope.training.compression.distill.alpha}, at most "
        f"{scope.training.compression.distill.epochs} epochs). Both shapes: "
        + "; ".join(f"{k} {v['before']} -> {v['after']}" for k, v in widths.items())
        + f". Building and measuring every variant took {compress_s:.0f} s. Latency: ONNX "
        f"Runtime on {selection.get('provider')}, median.",
        "",
        "| variant | params | MFLOPs/row | size KiB | batch 1 ms | batch 64 ms | accuracy "
        "| drop vs fp32 | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("fp32", *(n for pair in PAIRS for n in pair)):
        if name in rows:
            lines.append(_row(rows[name]))
    lines += ["", *conclusions(rows, float(selection.get("max_metric_drop", 0.01)))]
    return lines


def _row(row: VariantRow) -> str:
    def number(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    latency = row.latency_ms
    return (
        f"| {row.name} | {number(row.params, ',')} | "
        f"{number(row.flops / 1e6 if row.flops else None, '.3f')} | "
        f"{number(row.file_bytes / 1024 if row.file_bytes else None, '.1f')} | "
        f"{number(latency.get(1), '.4f')} | {number(latency.get(64), '.4f')} | "
        f"{number(row.metrics.get('accuracy'), '.4f')} | {number(row.metric_drop, '+.4f')} | "
        f"{row.status or row.error or ''} |"
    )


def conclusions(rows: dict[str, VariantRow], budget: float) -> list[str]:
    """One line per pruned/distilled pair, from the measured figures."""
    out = []
    for pruned_name, distilled_name in PAIRS:
        pruned, distilled = rows.get(pruned_name), rows.get(distilled_name)
        if pruned is None or distilled is None or pruned.error or distilled.error:
            out.append(f"{pruned_name} / {distilled_name}: not both built; no comparison.")
            continue
        a = distilled.metrics.get("accuracy", 0.0)
        b = pruned.metrics.get("accuracy", 0.0)
        points = 100 * (a - b)
        better = "distillation" if points > 0 else "pruning" if points < 0 else "neither"
        speed = {
            batch: pruned.latency_ms[batch] / distilled.latency_ms[batch]
            for batch in (1, 64)
            if pruned.latency_ms.get(batch) and distilled.latency_ms.get(batch)
        }
        shown = ", ".join(f"batch {k}: {v:.2f}x" for k, v in speed.items())
        alike = all(0.9 <= v <= 1.1 for v in speed.values())
        pace = (
            "within 10%, as the equal shapes predict"
            if alike
            else "more than 10% apart at equal FLOPs: the graphs differ beyond their shapes "
            "(e.g. fused nodes), or the machine's load changed between rounds"
        )
        within = [
            name
            for name, row in ((distilled_name, distilled), (pruned_name, pruned))
            if row.metric_drop is not None and row.metric_drop <= budget
        ]
        out.append(
            f"- {distilled_name} vs {pruned_name} (same FLOPs): {points:+.2f} accuracy points "
            f"({better} keeps more of fp32's accuracy); speed of the distilled one relative to "
            f"the pruned one: {shown} ({pace}); within the {budget:g} budget: "
            f"{', '.join(within) or 'neither'}."
        )
    return out


if __name__ == "__main__":
    print("\n".join(section()))
