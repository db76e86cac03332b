"""``training.compression.distill``: knowledge distillation into a smaller student."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from training.settings.fields import PosInt
from trainsmart.settings import Section


class DistillSettings(Section):
    """A smaller student network (the teacher's architecture, narrower) trained on the
    teacher's softened outputs and on the true labels, then exported, parity-checked,
    quantized and measured like the other variants (``distilled``, ``distilled_int8``).
    PyTorch models only; with Keras the table says it was not built.

    The student's loss per batch is ``alpha * T^2 * KL(teacher_T || student_T) +
    (1 - alpha) * cross-entropy(student, labels)``, where ``_T`` are the softmaxes at
    temperature T (regression: mean squared error to the teacher's output and to the
    target, with the same weights).

    Off by default (it trains a second network); configs/digits.yaml turns it on.

    Example (YAML)::

        training:
          compression:
            distill:
              enabled: true
              width_fraction: 0.5     # half the channels and hidden units of the teacher
              temperature: 4.0
              alpha: 0.7
              epochs: 30
    """

    enabled: bool = False
    """Train a student and add the 'distilled' and 'distilled_int8' variants."""
    width_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    """Student widths as a share of the teacher's: every conv block's channels and every
    hidden layer's units, rounded, at least 1 (ignored for what hidden_sizes or
    conv_channels set)."""
    hidden_sizes: list[PosInt] | None = None
    """The student's hidden layer widths (MLP, or the CNN's head); None: width_fraction
    of the teacher's."""
    conv_channels: list[PosInt] | None = None
    """The student CNN's conv block channels; None: width_fraction of the teacher's."""
    temperature: Annotated[float, Field(gt=0.0)] = 4.0
    """Softmax temperature T of teacher and student in the distillation term (higher:
    softer targets); the term is scaled by T^2 so its gradients keep their size."""
    alpha: Annotated[float, Field(ge=0.0, le=1.0)] = 0.7
    """Weight of the distillation term; 1 - alpha weighs the true labels' loss."""
    epochs: PosInt = 30
    """Upper bound on the student's epochs (early stopping on the validation loss with
    training.patience; the best epoch restored)."""
