"""The variant table and the choice of the variant to serve.

A variant is a candidate when it was built and ran, is not a GPU-only variant on a CPU
target, agrees with the float model it was made from (``min_agreement``), and its primary
test metric is at most ``max_metric_drop`` below fp32's (with a budget of 0, only
variants whose metric is at least fp32's qualify). Among the candidates:

* ``objective: speed`` serves the fastest, by the mean over batch sizes of its latency
  relative to fp32, if fp32 takes at least ``min_speedup`` times as long; else fp32;
* ``objective: size`` serves the smallest model file (ties: the faster).

fp32 is always a candidate, so there is always a choice.

Example::

    choice = choose(rows, objective="speed", max_drop=0.01, min_speedup=1.1,
                    min_agreement=0.95, gpu=False)
    choice.name, choice.reason    # ("pruned_fp32", "fastest within the budget: 1.62x ...")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

REFERENCE = "fp32"
EPSILON = 1e-12
"""Slack for comparing metrics (accuracy is a ratio of counts, exactly reproducible)."""


@dataclass
class VariantRow:
    """One built (or failed) variant and what was measured of it."""

    name: str
    kind: str
    """'fp32', 'fp16', 'int8 dynamic' or 'int8 static'."""
    source: str
    """The float variant it was made from ('fp32' or 'pruned_fp32'; itself for those)."""
    pruned: bool = False
    calibration: str | None = None
    """Static int8: the activation range method (minmax, entropy, percentile)."""
    file_bytes: int | None = None
    params: int | None = None
    flops: int | None = None
    """Linear/Conv FLOPs per row (training.compress.counting); None for Keras models."""
    latency_ms: dict[int, float] = field(default_factory=dict)
    """Median ONNX Runtime latency by batch size, on the target hardware."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Test metrics of the variant."""
    metric_drop: float | None = None
    """fp32's primary test metric minus this variant's (negative: better than fp32)."""
    agreement: float | None = None
    """Share of test rows with fp32's predicted class (regression: within 0.1 std)."""
    max_abs_diff: float | None = None
    """Largest probability (regression: value) difference from fp32 on the test rows."""
    source_agreement: float | None = None
    """Agreement with the float variant it was made from (the check it must pass)."""
    gpu_only: bool = False
    error: str | None = None
    """Why the variant could not be built or run (None: it was)."""
    status: str = ""
    """'served', 'reference' (fp32, not served), 'candidate' (qualified, not chosen),
    'rejected: ...' or 'failed: ...'."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency_ms"] = {f"batch_{b}": v for b, v in self.latency_ms.items()}
        return data


@dataclass(frozen=True)
class Choice:
    name: str
    reason: str


def relative_latency(row: VariantRow, reference: VariantRow) -> float | None:
    """Mean over batch sizes of ``row``'s latency / fp32's (below 1: faster)."""
    batches = [b for b in reference.latency_ms if b in row.latency_ms]
    if not batches:
        return None
    return sum(row.latency_ms[b] / reference.latency_ms[b] for b in batches) / len(batches)


def refusal(
    row: VariantRow, reference: VariantRow, max_drop: float, min_agreement: float, gpu: bool
) -> str | None:
    """Why ``row`` cannot be served (None: it is a candidate)."""
    if row.error is not None:
        return f"failed: {row.error}"
    if row.gpu_only and not gpu:
        return "rejected: gpu only"
    if row.source_agreement is not None and row.source_agreement < min_agreement - EPSILON:
        return (
            f"rejected: agrees with {row.source} on {row.source_agreement:.1%} of test rows "
            f"(minimum {min_agreement:.0%})"
        )
    if row.metric_drop is None:
        return "rejected: no test metric"
    if row.metric_drop > max_drop + EPSILON:
        return f"rejected: metric drop {row.metric_drop:.4f} > budget {max_drop:g}"
    return None


def choose(
    rows: list[VariantRow],
    *,
    objective: Literal["speed", "size"],
    max_drop: float,
    min_speedup: float,
    min_agreement: float,
    gpu: bool,
) -> Choice:
    """Pick the variant to serve and set every row's ``status``."""
    reference = next((r for r in rows if r.name == REFERENCE and r.error is None), None)
    if reference is None:
        raise ValueError("the variant table has no working fp32 row to compare with")
    candidates = [reference]
    for row in rows:
        if row is reference:
            continue
        reason = refusal(row, reference, max_drop, min_agreement, gpu)
        if reason is None and objective == "speed":
            ratio = relative_latency(row, reference)
            if ratio is None or ratio * min_speedup > 1.0 + EPSILON:
                # three decimals where two would round up to the requirement (1.098 -> 1.10)
                digits = 3 if ratio is not None and round(1 / ratio, 2) >= min_speedup else 2
                shown = "unmeasured" if ratio is None else f"{1 / ratio:.{digits}f}x fp32's speed"
                reason = f"rejected: {shown} (needs {min_speedup:g}x)"
        row.status = reason or "candidate"
        if reason is None:
            candidates.append(row)
    if objective == "size":
        best = min(
            candidates,
            key=lambda r: (r.file_bytes or 0, relative_latency(r, reference) or 1.0),
        )
        reason = f"smallest within the budget: {best.file_bytes} bytes"
    else:
        best = min(candidates, key=lambda r: relative_latency(r, reference) or 1.0)
        speedup = 1.0 / (relative_latency(best, reference) or 1.0)
        reason = f"fastest within the budget: {speedup:.2f}x fp32's speed"
    if best is reference and len(candidates) == 1:
        reason = "no other variant qualified; fp32 is served"
    reference.status = "reference"
    best.status = "served"
    return Choice(best.name, reason)


def table_json(rows: list[VariantRow], choice: Choice, selection: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's "variants" section: the selection and every row, in build order."""
    return {
        "selection": {"chosen": choice.name, "reason": choice.reason, **selection},
        "table": [row.to_json() for row in rows],
    }
