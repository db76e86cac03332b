"""The digits CNN's sections of the compression benchmark: what structured pruning buys
int8 (against 0.7 x the FLOPs removed) and achieved vs attainable compute."""

from __future__ import annotations

from pathlib import Path

from bench.compute import (
    compute_split,
    cpu_session,
    matmul_gflops,
    op_profiles,
    preprocessing_model,
    top_others,
    verdict,
)
from bench.staged import Model

PRUNE_EFFICIENCY = 0.7
"""Target: pruned int8 vs int8 speed-up >= this x the FLOPs-removed ratio."""


def pruning_section(cnn: Model, workdir: Path) -> list[str]:
    variants = cnn.variants
    method = next(
        m
        for m in ("minmax", "entropy", "percentile")
        if f"int8_static_{m}" in variants and f"pruned_int8_static_{m}" in variants
    )
    full, pruned, floor = f"int8_static_{method}", f"pruned_int8_static_{method}", "floor"
    prefix = preprocessing_model(cnn.file(full), workdir / "preprocessing.onnx")
    sessions = {name: cpu_session(cnn.file(name)) for name in (full, pruned)}
    sessions[floor] = cpu_session(prefix)
    speed = {b: cnn.latencies(sessions, b) for b in (1, 64)}
    flops_ratio = variants[full]["flops"] / variants[pruned]["flops"]
    expected = PRUNE_EFFICIENCY * flops_ratio
    lost = 100 * (variants[full]["metrics"]["accuracy"] - variants[pruned]["metrics"]["accuracy"])
    lines = [
        f"### Structured pruning + int8 vs int8 (digits CNN, {method} calibration)",
        "",
        f"Pruning removed {1 - 1 / flops_ratio:.0%} of the FLOPs "
        f"({variants[full]['flops']:,} -> {variants[pruned]['flops']:,} per row, "
        f"{flops_ratio:.2f}x fewer); target speed-up: {PRUNE_EFFICIENCY:g} x {flops_ratio:.2f} "
        f"= {expected:.2f}x. Floor: the same graph cut before its first quantized op (the "
        "in-graph preprocessing and session.run), which pruning cannot make faster.",
        "",
        "| batch | int8 ms | pruned int8 ms | speed-up | target | | floor ms | "
        "speed-up above the floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    missed = []
    for batch, per in speed.items():
        gain = per[full] / per[pruned]
        above = (per[full] - per[floor]) / max(per[pruned] - per[floor], 1e-9)
        lines.append(
            f"| {batch} | {per[full]:.4f} | {per[pruned]:.4f} | {gain:.2f}x | "
            f">= {expected:.2f}x | {verdict(gain >= expected)} | {per[floor]:.4f} | {above:.2f}x |"
        )
        if gain < expected:
            missed.append((batch, gain))
    lines += ["", f"Accuracy lost by pruning (int8 vs pruned int8): {lost:+.2f} points."]
    rows = cnn.rows
    for batch, gain in missed:
        profiles = op_profiles({full: cnn.file(full), pruned: cnn.file(pruned)}, rows, batch)
        (c0, o0), (c1, o1) = compute_split(profiles[full]), compute_split(profiles[pruned])
        share = c0 / (c0 + o0)
        bound = 1 / ((1 - share) + share / flops_ratio)
        per = speed[batch]
        lines += [
            "",
            f"Batch {batch}: missed by {expected / gain:.2f}x. The floor is "
            f"{per[floor] / per[full]:.0%} of the int8 model's time and "
            f"{per[floor] / per[pruned]:.0%} of the pruned one's. ONNX Runtime's profiler "
            f"(both models in alternation) puts {share:.0%} of the int8 model's kernel time in "
            "QLinearConv/QGemm and the rest in quantize/dequantize, NCHW/NHWC transposes, "
            "pooling and the preprocessing; with that share cut by the FLOPs ratio and the rest "
            f"unchanged, the bound is {bound:.2f}x. Measured: the QLinearConv/QGemm kernels "
            f"got {c0 / max(c1, 1e-9):.2f}x faster, the others {o0 / max(o1, 1e-9):.2f}x "
            f"(largest others in the pruned model: {top_others(profiles[pruned])}; profiler "
            "times include its own per-kernel overhead).",
        ]
    return lines


def compute_section(cnn: Model) -> list[str]:
    batch = 64
    variants = cnn.variants
    served = cnn.staged.serving_variant
    names = list(dict.fromkeys(["fp32", served]))
    sessions = {name: cpu_session(cnn.file(name)) for name in names}
    latency = cnn.latencies(sessions, batch)
    lines = [
        f"### Achieved vs attainable compute (digits CNN, batch {batch}, CPU)",
        "",
        "Achieved: the model's Linear/Conv FLOPs per batch over its median latency. "
        "Attainable: a numpy float32 matmul (n x n by n x n) of about the same FLOPs, and "
        "of n = 1024 for the machine's large-matmul rate.",
        "",
        "| model | MFLOPs per batch | ms | GFLOP/s | matmul of similar FLOPs GFLOP/s | "
        "achieved / attainable |",
        "|---|---|---|---|---|---|",
    ]
    large = matmul_gflops(1024)
    ratios = {}
    for name in names:
        flops = variants[name]["flops"] * batch
        achieved = flops / (latency[name] * 1e-3) / 1e9
        n = max(8, round((flops / 2) ** (1 / 3)))
        attainable = matmul_gflops(n)
        ratios[name] = achieved / attainable
        lines.append(
            f"| {name} | {flops / 1e6:.1f} | {latency[name]:.4f} | {achieved:.1f} | "
            f"{attainable:.1f} (n={n}) | {ratios[name]:.0%} |"
        )
    notes = [
        f"{name} reaches {ratio:.0%} of the matmul's rate"
        + (
            ": per FLOP it runs about as fast as a plain matmul of its size"
            if ratio >= 0.9
            else ": the rest of its time is work that the Linear/Conv FLOPs do not count "
            "(preprocessing, pooling, layout, session.run)"
        )
        for name, ratio in ratios.items()
    ]
    lines += [
        "",
        f"{'; '.join(notes)}. numpy float32 matmul at n = 1024, same run: {large:.1f} GFLOP/s "
        "(the machine is shared: rates vary between runs, ratios within one run less).",
    ]
    return lines
