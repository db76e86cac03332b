"""The student of knowledge distillation and its training loop (see
:mod:`training.compress.distill` for the variants made from it).

* The student is the teacher's architecture (MLP, or CNN with its head) with
  ``width_fraction`` of every conv block's channels and hidden layer's units (or the
  widths ``training.compression.distill`` names), freshly initialised with the seed, and a
  copy of the teacher's in-graph preprocessing, so it takes the same raw rows.
* Loss per batch (:func:`distillation_loss`): ``alpha * T^2 * KL(softmax(t/T) ||
  softmax(s/T)) + (1 - alpha) * CE(s, y)`` with the class weights of the training loop;
  regression: ``alpha * MSE(s, t) + (1 - alpha) * MSE(s, y)`` on the standardised target.
* The loop is the trainer's (AdamW, the schedule, clipping, oversampling, the seed,
  deterministic algorithms, ``training.device``), for at most ``distill.epochs`` epochs
  with early stopping (``training.patience``) on the validation loss against the true
  labels, the best epoch restored. Teacher and student end on the CPU.

Example::

    result = distill(trained.model, x_train, y_train, x_val, y_val, settings.training)
    result.fit.model              # the student Network
    result.widths                 # {"conv_channels": ([32, 64], [16, 32]), ...}
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.frameworks.base import EpochLog, FitResult
from training.frameworks.fitting import check_rows, oversample
from training.frameworks.pytorch.device import deterministic, resolve_device, to_cpu
from training.frameworks.pytorch.models import CNN, MLP, Network
from training.frameworks.pytorch.trainer import class_weights, lr_scheduler
from training.settings import TrainingSettings
from training.settings.distill import DistillSettings
from trainsmart.errors import TrainingError


@dataclass
class Distilled:
    """The student, how it was trained and its widths against the teacher's."""

    fit: FitResult[Network]
    widths: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)

    def summary(self, cfg: DistillSettings) -> dict[str, Any]:
        """metrics.json's ``variants.selection.distillation``."""
        return {
            "temperature": cfg.temperature,
            "alpha": cfg.alpha,
            "epochs": cfg.epochs,
            "epochs_run": len(self.fit.history),
            "best_epoch": self.fit.best_epoch,
            "widths": {k: {"before": b, "after": a} for k, (b, a) in self.widths.items()},
        }


def _scaled(widths: list[int], fraction: float) -> list[int]:
    return [max(1, round(w * fraction)) for w in widths]


def _hidden(mlp: MLP) -> tuple[list[int], int, int, float]:
    """(hidden widths, inputs, outputs, dropout) of an MLP."""
    linears = [m for m in mlp.net if isinstance(m, nn.Linear)]
    dropout = next((float(m.p) for m in mlp.net if isinstance(m, nn.Dropout)), 0.0)
    hidden = [layer.out_features for layer in linears[:-1]]
    return hidden, linears[0].in_features, linears[-1].out_features, dropout


def student_body(
    teacher: Network, cfg: DistillSettings
) -> tuple[nn.Module, dict[str, tuple[list[int], list[int]]]]:
    """A freshly initialised body of the teacher's kind with the student's widths."""
    body = teacher.body
    if isinstance(body, CNN):
        convs = [m.out_channels for m in body.features if isinstance(m, nn.Conv2d)]
        head, _, outputs, dropout = _hidden(body.head)
        channels = cfg.conv_channels or _scaled(convs, cfg.width_fraction)
        hidden = cfg.hidden_sizes or _scaled(head, cfg.width_fraction)
        student = CNN(list(body.image_shape), channels, hidden, dropout, outputs)
        return student, {"conv_channels": (convs, channels), "hidden_sizes": (head, hidden)}
    if isinstance(body, MLP):
        layers, inputs, outputs, dropout = _hidden(body)
        hidden = cfg.hidden_sizes or _scaled(layers, cfg.width_fraction)
        return MLP(inputs, hidden, dropout, outputs), {"hidden_sizes": (layers, hidden)}
    raise TrainingError(
        f"distillation knows the MLP and CNN networks, not {type(body).__name__}; set "
        "training.compression.distill.enabled: false"
    )


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    *,
    temperature: float,
    alpha: float,
    regression: bool = False,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """``alpha`` x the distillation term + (1 - ``alpha``) x the true labels' loss.

    Classification: ``T^2 * KL(softmax(teacher/T) || softmax(student/T))`` (batch mean)
    and the (class-weighted) cross-entropy with the labels. Regression: mean squared
    errors to the teacher's output and to the target.
    """
    if regression:
        return alpha * F.mse_loss(student, teacher) + (1 - alpha) * F.mse_loss(student, target)
    soft = F.kl_div(
        F.log_softmax(student / temperature, dim=1),
        F.log_softmax(teacher / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    hard = F.cross_entropy(student, target, weight=weight)
    return alpha * temperature**2 * soft + (1 - alpha) * hard


def distill(
    teacher: Network,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainingSettings,
) -> Distilled:
    """Train the student ``settings.compression.distill`` describes from ``teacher`` on
    encoded rows (labels: class indices, or target values); both end on the CPU."""
    check_rows(x_train, x_val)
    cfg = settings.compression.distill
    device = resolve_device(settings.device)
    with deterministic(settings.seed, device):
        if settings.oversample_minority and not teacher.regression:
            x_train, y_train = oversample(x_train, y_train, settings.seed)
        body, widths = student_body(teacher, cfg)
        student = Network(
            copy.deepcopy(teacher.preprocessor),
            body,
            regression=teacher.regression,
            target_mean=float(teacher.target_mean),
            target_std=float(teacher.target_std),
        )
        teacher.to(device)
        student.to(device)
        try:
            fit = _epochs(teacher, student, x_train, y_train, x_val, y_val, settings, device)
        finally:
            to_cpu(teacher)
            to_cpu(student)
    return Distilled(fit, widths)


def _targets(model: Network, y: np.ndarray, device: torch.device) -> torch.Tensor:
    if model.regression:
        values = torch.from_numpy(np.asarray(y, dtype=np.float32)).reshape(-1, 1)
        return ((values - model.target_mean.cpu()) / model.target_std.cpu()).to(device)
    return torch.from_numpy(np.asarray(y)).long().to(device)


def _epochs(
    teacher: Network,
    student: Network,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainingSettings,
    device: torch.device,
) -> FitResult[Network]:
    cfg = settings.compression.distill
    regression = student.regression
    xt = torch.from_numpy(np.asarray(x_train, dtype=np.float32)).to(device)
    xv = torch.from_numpy(np.asarray(x_val, dtype=np.float32)).to(device)
    yt, yv = _targets(student, y_train, device), _targets(student, y_val, device)
    teacher.eval()  # before any forward pass: no dropout, and no draw from the seeded stream
    with torch.no_grad():
        soft = teacher.logits(xt)
    weight = None
    if settings.class_weights and not regression:
        weight = class_weights(np.asarray(y_train), int(soft.shape[1])).to(device)
    short = settings.model_copy(update={"max_epochs": cfg.epochs})
    optimizer = torch.optim.AdamW(
        student.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    scheduler = lr_scheduler(optimizer, short)
    generator = torch.Generator().manual_seed(settings.seed)
    loss = functools.partial(
        distillation_loss,
        temperature=cfg.temperature,
        alpha=cfg.alpha,
        regression=regression,
        weight=weight,
    )
    best: FitResult[Network] = FitResult(
        student,
        0,
        float("inf"),
        -float("inf") if regression else 0.0,
        score_name="r2" if regression else "accuracy",
        train_rows=len(xt),
    )
    best_state = copy.deepcopy(student.state_dict())
    stale = 0
    for epoch in range(1, cfg.epochs + 1):
        student.train()
        lr = float(optimizer.param_groups[0]["lr"])
        order = torch.randperm(len(xt), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            value = loss(student.logits(xt[batch]), soft[batch], yt[batch])
            value.backward()
            if settings.grad_clip_norm is not None:
                nn.utils.clip_grad_norm_(student.parameters(), settings.grad_clip_norm)
            optimizer.step()
            total += float(value.detach()) * len(batch)
        val_loss, val_score = _validate(student, xv, yv, weight)
        if not np.isfinite(val_loss):
            raise TrainingError(
                f"the student's validation loss became {val_loss} at epoch {epoch}; lower "
                "training.learning_rate or training.compression.distill.temperature"
            )
        best.history.append(EpochLog(epoch, total / max(len(xt), 1), val_loss, val_score, lr))
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
        if val_loss < best.best_val_loss:
            best.best_epoch, best.best_val_loss, best.best_val_score = epoch, val_loss, val_score
            best_state = copy.deepcopy(student.state_dict())
            stale = 0
        else:
            stale += 1
            if stale >= settings.patience:
                break
    student.load_state_dict(best_state)
    student.eval()
    return best


def _validate(
    model: Network, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
) -> tuple[float, float]:
    """Validation loss against the true labels and accuracy (regression: MSE and R2)."""
    model.eval()
    with torch.no_grad():
        logits = model.logits(x)
        if model.regression:
            spread = float(((y - y.mean()) ** 2).sum())
            error = float(((logits - y) ** 2).sum())
            return error / len(y), 1.0 - error / spread if spread > 0 else 0.0
        loss = float(F.cross_entropy(logits, y, weight=weight))
        return loss, float((logits.argmax(dim=1) == y).float().mean())
