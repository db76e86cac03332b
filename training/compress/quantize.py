"""ONNX-to-ONNX variants: the optimised fp32 baseline, int8 (dynamic and static QDQ), fp16.

Quirks worth knowing:

* ``quantize_dynamic`` and ``quantize_static`` fail on the raw dynamo export, so every
  variant starts from :func:`prepare` (``quant_pre_process``: shape inference and ONNX
  Runtime's basic graph optimisations, which fold BatchNorm into Conv);
* dynamic int8 turns Conv into ConvInteger, slower than fp32 Conv on CPU, so it is built
  for networks without convolutions only (:func:`has_conv`); conv nets get static int8;
* static int8 is QDQ (QuantizeLinear/DequantizeLinear pairs around float ops, which ONNX
  Runtime fuses into QLinearConv/QGemm); MaxPool and Relu are quantized too, so that no
  requantization sits between two convs; the preprocessing (imputation, scaling,
  one-hot) stays float;
* the dynamo exporter writes a stack trace and scope names into every node; they are
  stripped from every variant (:func:`strip`), which halves a small model's file;
* x86 CPUs without VNNI multiply uint8 x int8 pairs with a 16-bit intermediate that
  saturates (ONNX Runtime's U8S8 kernels on AVX2): on such a machine the weights are
  quantized to 7 bits (``reduce_range``), else one row in a hundred can come out with a
  wrong class (:func:`reduced_range`);
* fp16 keeps float32 inputs and outputs and leaves the preprocessing in float32 (raw
  feature values can exceed fp16's range); ONNX Runtime's CPU provider runs it with casts,
  so it is a GPU candidate only.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import platform
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import onnx

from training.compress.errors import CompressionError

COMPUTE_OPS = frozenset({"Conv", "Gemm", "MatMul"})
STATIC_OPS = ["Conv", "Gemm", "MatMul", "MaxPool", "Relu"]
"""Op types static int8 quantizes (QDQ); everything else stays float."""
CALIBRATION_BATCH = 64

Method = Literal["minmax", "entropy", "percentile"]
X86 = frozenset({"x86_64", "amd64", "i386", "i686"})
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})

log = logging.getLogger("training.compress")


@functools.cache
def reduced_range(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether int8 weights should use 7 bits on this machine: on x86 without VNNI
    (or where the CPU flags cannot be read), ONNX Runtime's uint8 x int8 kernels
    saturate with full-range weights; VNNI and non-x86 CPUs do not."""
    if platform.machine().lower() not in X86:
        return False
    try:
        flags = {
            f
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("flags")
            for f in line.split(":", 1)[1].split()
        }
    except OSError:
        flags = set()
    reduce = not (flags & VNNI_FLAGS)
    if reduce:
        log.info(
            "x86 CPU without VNNI: int8 weights use 7 bits (reduce_range) to avoid "
            "saturation in ONNX Runtime's uint8 x int8 kernels"
        )
    return reduce


def prepare(raw: Path, out: Path) -> Path:
    """``raw`` after shape inference and basic graph optimisations (the quantizers' input;
    it keeps the inferred shapes: strip it before serving it)."""
    # lazy: onnxruntime.quantization adds ~0.15 s to every import; only compression uses it
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(raw), str(out))
    except Exception as exc:  # onnxruntime raises assorted error types
        raise CompressionError(
            f"ONNX Runtime cannot optimise {raw.name} ({type(exc).__name__}: {exc})"
        ) from exc
    return out


def strip(source: Path, out: Path) -> Path:
    """Copy ``source`` without what serving does not need: node stack traces and scope
    names, doc strings, inferred intermediate shapes (ONNX Runtime infers them again),
    unused opset imports; intermediate tensors get short names (the graph's input and
    output names, which the contract names, are kept)."""
    model = onnx.load(str(source))
    graph = model.graph
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del graph.value_info[:]
    graph.doc_string = ""
    model.doc_string = ""
    used = {node.domain for node in graph.node} | {""}
    kept = [o for o in model.opset_import if o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    if not any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
        for node in graph.node
        for a in node.attribute
    ):
        _short_names(graph)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def _short_names(graph: onnx.GraphProto) -> None:
    """Rename every tensor but the graph's inputs and outputs to t0, t1, ...; clear node
    names (a quantized model's names such as 'body.net.0.weight_quantized_scale' can
    outweigh its int8 weights)."""
    fixed = {v.name for v in graph.input} | {v.name for v in graph.output} | {""}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if name in fixed:
            return name
        if name not in names:
            candidate = f"t{len(names)}"
            while candidate in fixed:
                candidate += "_"
            names[name] = candidate
        return names[name]

    for init in graph.initializer:
        init.name = short(init.name)
    for node in graph.node:
        node.name = ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]


def has_conv(path: Path) -> bool:
    """Whether the model at ``path`` convolves (then dynamic int8 is never built)."""
    return any(node.op_type == "Conv" for node in onnx.load(str(path)).graph.node)


def dynamic_int8(prepared: Path, out: Path) -> Path:
    """int8 weights of MatMul/Gemm, activations quantized on the fly (MLPs only)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # lazy: see prepare()

    if has_conv(prepared):
        raise CompressionError(
            "dynamic int8 is not built for conv nets (ConvInteger is slower than fp32 Conv on "
            "CPU); use static int8"
        )
    with tempfile.TemporaryDirectory(prefix="trainsmart-int8-") as tmp:
        staged = Path(tmp) / "int8.onnx"
        try:
            quantize_dynamic(
                str(prepared),
                str(staged),
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "Gemm"],
                reduce_range=reduced_range(),
            )
        except Exception as exc:  # onnxruntime raises assorted error types
            raise CompressionError(
                f"dynamic int8 quantization failed ({type(exc).__name__}: {exc})"
            ) from exc
        return strip(staged, out)


def static_int8(
    prepared: Path,
    out: Path,
    calibration: np.ndarray,
    method: Method,
    *,
    per_channel: bool = True,
) -> Path:
    """QDQ int8 (uint8 activations, int8 weights) with activation ranges from feeding
    ``calibration`` rows (encoded, float32) through the model and ``method``."""
    from onnxruntime.quantization import (  # lazy: see prepare()
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if len(calibration) == 0:
        raise CompressionError("static int8 needs calibration rows; got none")
    name = onnx.load(str(prepared)).graph.input[0].name
    # equal batches only: the entropy and percentile calibrators fail on a shorter last one
    batch_rows = min(CALIBRATION_BATCH, len(calibration))
    usable = len(calibration) - len(calibration) % batch_rows
    rows = np.ascontiguousarray(calibration[:usable], dtype=np.float32)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.start = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.start >= len(rows):
                return None
            batch = rows[self.start : self.start + batch_rows]
            self.start += batch_rows
            return {name: batch}

        def rewind(self) -> None:
            self.start = 0

    with (
        tempfile.TemporaryDirectory(prefix="trainsmart-qdq-") as tmp,
        contextlib.redirect_stdout(io.StringIO()),  # the histogram calibrators print
    ):
        staged = Path(tmp) / "int8.onnx"
        try:
            quantize_static(
                str(prepared),
                str(staged),
                Reader(),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=STATIC_OPS,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods[method],
                reduce_range=reduced_range(),
            )
        except Exception as exc:  # onnxruntime raises assorted error types
            raise CompressionError(
                f"static int8 quantization ({method}) failed ({type(exc).__name__}: {exc})"
            ) from exc
        return strip(staged, out)


def fp16(prepared: Path, out: Path) -> Path:
    """Weights and the network's arithmetic in float16; inputs, outputs and the in-graph
    preprocessing (the nodes before the first Conv/Gemm/MatMul) stay float32."""
    # lazy: onnxruntime.transformers, like onnxruntime.quantization (see prepare())
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(prepared))
    nodes = list(model.graph.node)
    first = next((i for i, n in enumerate(nodes) if n.op_type in COMPUTE_OPS), len(nodes))
    for i, node in enumerate(nodes):
        if not node.name:
            node.name = f"trainsmart_node_{i}"
    try:
        half = convert_float_to_float16(
            model, keep_io_types=True, node_block_list=[n.name for n in nodes[:first]]
        )
    except Exception as exc:  # the converter raises assorted error types
        raise CompressionError(f"fp16 conversion failed ({type(exc).__name__}: {exc})") from exc
    with tempfile.TemporaryDirectory(prefix="trainsmart-fp16-") as tmp:
        staged = Path(tmp) / "fp16.onnx"
        onnx.save(half, str(staged))
        return strip(staged, out)
