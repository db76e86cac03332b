"""``training.compression``: the compressed variants and the choice of the served one."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from training.settings.distill import DistillSettings
from training.settings.fields import PosInt
from trainsmart.settings import Section

CalibrationMethod = Literal["minmax", "entropy", "percentile"]


class CompressionSettings(Section):
    """Compressed variants of the model and the choice of the one to serve, as
    ``training.compression`` (see :mod:`training.compress`).

    Built beside fp32 (the ONNX export after ONNX Runtime's graph optimisations): int8
    dynamic quantization (networks without convolutions only), int8 static quantization
    in QDQ format calibrated on training rows (once per calibration method, per-channel
    weights), structured pruning of hidden units and conv channels followed by fine-tuning
    and the same int8 variants (PyTorch models), and fp16 (a GPU candidate only). Each is
    measured (file size, ONNX Runtime latency at batch 1 and 64, test metrics, agreement
    with fp32); only the chosen one is registered, as model.onnx.

    Example (YAML)::

        training:
          compression:
            objective: size          # the smallest variant within the metric budget
            max_metric_drop: 0.005
            prune_ratio: 0.25
    """

    enabled: bool = True
    """Build and measure the variants; false: serve the fp32 export (nothing else built)."""
    objective: Literal["speed", "size"] = "speed"
    """'speed': the fastest variant on the target hardware within the metric budget (at
    least min_speedup faster than fp32); 'size': the smallest model file within it."""
    max_metric_drop: Annotated[float, Field(ge=0.0)] = 0.01
    """Budget: a variant is a candidate only if its primary test metric (accuracy, or R2
    for regression) is at most this far below fp32's (0.01 = 1 percentage point); 0 admits
    only variants at least as good as fp32. Also read from training.max_metric_drop."""
    min_speedup: Annotated[float, Field(ge=1.0)] = 1.10
    """objective 'speed': a variant replaces fp32 only if fp32's latency is at least this
    many times its own (mean over batch 1 and 64 of the latency ratios)."""
    min_agreement: Annotated[float, Field(ge=0.0, le=1.0)] = 0.95
    """A quantized or fp16 variant must predict the same class as the float model it was
    made from on at least this share of test rows (regression: be within a tenth of the
    outputs' standard deviation); below it the variant is refused."""
    calibration_rows: PosInt = 512
    """Training rows (drawn with data.seed) fed through the model to calibrate static int8."""
    calibration_methods: list[CalibrationMethod] = ["minmax", "entropy", "percentile"]
    """Activation range methods tried for static int8, one variant each."""
    per_channel: bool = True
    """Static int8: one weight scale per output channel / unit (else one per tensor)."""
    prune_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.5
    """Share of the hidden units of each hidden Linear layer and of the channels of each
    conv block physically removed (0: no pruned variants; PyTorch models only)."""
    prune_criterion: Literal["l1", "bn_gamma"] = "l1"
    """How units are ranked before the weakest are removed: 'l1', the L1 norm of a unit's
    incoming weights (of a conv channel's filter); 'bn_gamma' ranks conv channels by
    |BatchNorm gamma| instead (Linear units still by L1)."""
    prune_finetune_epochs: PosInt = 10
    """Epochs of fine-tuning after pruning (the training loop; best epoch restored)."""
    fp16: bool = True
    """Build an fp16 variant (float32 inputs and outputs). Selected only when the target is
    a GPU: on CPU it is measured and marked 'gpu only'."""
    target: Literal["auto", "cpu", "cuda"] = "auto"
    """Hardware the variants are measured and chosen on: 'auto' uses CUDA when
    onnxruntime-gpu sees a GPU, else the CPU; 'cuda' fails when no GPU can be used."""
    latency_repeats: PosInt = 100
    """Timed runs per variant and batch size (after a warm-up); the median is kept."""
    distill: DistillSettings = Field(default_factory=DistillSettings)
    """Knowledge distillation into a smaller student (off by default); see DistillSettings."""
