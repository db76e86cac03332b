"""The training loop: AdamW, early stopping, seeded; class-weighted cross-entropy for
classification, mean squared error on the standardised target for regression.

Optional, from :class:`TrainingSettings`: a learning-rate schedule stepped once per
epoch (step, cosine, reduce-on-plateau), gradient-norm clipping, and random
oversampling of the smaller classes in the training rows.

A rerun with the same seed and data gives the same weights: the seed fixes the
weight initialisation, the shuffling generator and dropout, and deterministic
algorithms are switched on for the duration of the fit (the previous setting is
restored afterwards).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from training.frameworks import fitting
from training.frameworks.base import EpochLog, FitResult
from training.frameworks.fitting import ProgressBar, check_rows, oversample, target_scale
from training.frameworks.pytorch.device import deterministic, resolve_device, to_cpu
from training.frameworks.pytorch.models import Network, build_network
from training.preprocess import Preprocessor
from training.settings import TrainingSettings
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import InputContract


def class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse class frequency as the loss's weight tensor (see :func:`fitting.class_weights`)."""
    return torch.from_numpy(fitting.class_weights(y, n_classes))


def lr_scheduler(
    optimizer: torch.optim.Optimizer, settings: TrainingSettings
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The epoch-wise schedule named by ``settings.lr_schedule`` (None for 'none')."""
    schedules = torch.optim.lr_scheduler
    if settings.lr_schedule == "step":
        return schedules.StepLR(optimizer, step_size=settings.lr_step_size, gamma=settings.lr_gamma)
    if settings.lr_schedule == "cosine":
        return schedules.CosineAnnealingLR(optimizer, T_max=settings.max_epochs)
    if settings.lr_schedule == "plateau":
        return schedules.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=settings.lr_plateau_factor,
            patience=settings.lr_plateau_patience,
        )
    return None


def r2_score(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """Coefficient of determination (0 when the truth does not vary)."""
    spread = float(((truth - truth.mean()) ** 2).sum())
    return 1.0 - float(((predicted - truth) ** 2).sum()) / spread if spread > 0 else 0.0


def _evaluate(
    model: Network, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module
) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model.logits(x)
        loss = float(loss_fn(logits, y))
        if model.regression:
            return loss, r2_score(logits, y)
        accuracy = float((logits.argmax(dim=1) == y).float().mean())
    return loss, accuracy


def fit(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    preprocessor: Preprocessor,
    contract: InputContract,
    settings: TrainingSettings,
    *,
    progress: bool = True,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> FitResult[Network]:
    """Train the :class:`Network` ``settings`` describe on encoded rows; labels are class
    indices (classification) or target values (regression).

    ``on_epoch`` sees every epoch's log after it ends (tuning reports to its pruner there;
    an exception it raises ends the fit).
    """
    check_rows(x_train, x_val)
    regression = contract.task == "regression"
    with deterministic(settings.seed, resolve_device(settings.device)):
        if settings.oversample_minority and not regression:
            x_train, y_train = oversample(x_train, y_train, settings.seed)
        if regression:
            mean, std = target_scale(y_train)
            model = build_network(
                preprocessor, contract, settings, target_mean=mean, target_std=std
            )
        else:
            model = build_network(preprocessor, contract, settings)
        n_classes = 1 if regression else len(contract.classes)
        return _train(
            model, x_train, y_train, x_val, y_val, settings, n_classes, progress, on_epoch
        )


def fine_tune(
    model: Network,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainingSettings,
    epochs: int,
    *,
    progress: bool = False,
) -> FitResult[Network]:
    """Train an existing :class:`Network` for ``epochs`` more epochs with the same loop as
    :func:`fit` (loss, optimizer, schedule, clipping, oversampling from ``settings``), e.g.
    after structured pruning; the best epoch by validation loss is restored, in place.

    A regression network keeps its own target scale (``target_mean``, ``target_std``).
    """
    check_rows(x_train, x_val)
    if epochs < 1:
        raise TrainingError(f"fine-tuning needs at least 1 epoch, got {epochs}")
    short = settings.model_copy(update={"max_epochs": epochs, "patience": epochs})
    with deterministic(settings.seed, resolve_device(settings.device)):
        if short.oversample_minority and not model.regression:
            x_train, y_train = oversample(x_train, y_train, settings.seed)
        n_classes = _n_outputs(model)
        return _train(model, x_train, y_train, x_val, y_val, short, n_classes, progress, None)


def _n_outputs(model: Network) -> int:
    """Width of the network's last linear layer (classes, or 1 for regression)."""
    linears = [m for m in model.body.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TrainingError("the network has no linear output layer to fine-tune")
    return int(linears[-1].out_features)


def _train(
    model: Network,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainingSettings,
    n_classes: int,
    progress: bool,
    on_epoch: Callable[[EpochLog], None] | None,
) -> FitResult[Network]:
    """The epoch loop of :func:`fit` and :func:`fine_tune` (inside :func:`deterministic`),
    on ``settings.device``; the model is back on the CPU when it returns."""
    device = resolve_device(settings.device)
    model.to(device)
    try:
        return _epochs(
            model, x_train, y_train, x_val, y_val, settings, n_classes, progress, on_epoch
        )
    finally:
        to_cpu(model)


def _epochs(
    model: Network,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainingSettings,
    n_classes: int,
    progress: bool,
    on_epoch: Callable[[EpochLog], None] | None,
) -> FitResult[Network]:
    device = next(model.parameters()).device
    regression = model.regression
    train_loss_fn: nn.Module
    val_loss_fn: nn.Module
    if regression:
        mean, std = float(model.target_mean), float(model.target_std)
        train_loss_fn = val_loss_fn = nn.MSELoss()  # on the standardised target
        yt = torch.from_numpy(np.asarray(y_train, dtype=np.float32)).reshape(-1, 1)
        yv = torch.from_numpy(np.asarray(y_val, dtype=np.float32)).reshape(-1, 1)
        yt, yv = (yt - mean) / std, (yv - mean) / std
    else:
        weight = class_weights(y_train, n_classes).to(device) if settings.class_weights else None
        train_loss_fn = nn.CrossEntropyLoss(weight=weight)
        val_loss_fn = nn.CrossEntropyLoss(weight=weight)
        yt, yv = torch.from_numpy(y_train).long(), torch.from_numpy(y_val).long()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    scheduler = lr_scheduler(optimizer, settings)
    generator = torch.Generator().manual_seed(settings.seed)
    xt, xv = torch.from_numpy(x_train).float(), torch.from_numpy(x_val).float()
    xt, xv, yt, yv = xt.to(device), xv.to(device), yt.to(device), yv.to(device)

    best_state = copy.deepcopy(model.state_dict())
    best: FitResult[Network] = FitResult(
        model,
        0,
        float("inf"),
        -float("inf") if regression else 0.0,
        score_name="r2" if regression else "accuracy",
        train_rows=len(x_train),
    )
    stale = 0
    with ProgressBar(progress, settings.max_epochs, "r2" if regression else "acc") as bar:
        for epoch in range(1, settings.max_epochs + 1):
            model.train()
            lr = float(optimizer.param_groups[0]["lr"])
            order = torch.randperm(len(xt), generator=generator).to(device)
            total, seen = 0.0, 0
            for start in range(0, len(order), settings.batch_size):
                batch = order[start : start + settings.batch_size]
                optimizer.zero_grad()
                loss = train_loss_fn(model.logits(xt[batch]), yt[batch])
                loss.backward()
                if settings.grad_clip_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip_norm)
                optimizer.step()
                total += float(loss.detach()) * len(batch)
                seen += len(batch)
            val_loss, val_score = _evaluate(model, xv, yv, val_loss_fn)
            if not np.isfinite(val_loss):
                raise TrainingError(
                    f"validation loss became {val_loss} at epoch {epoch}; "
                    "lower training.learning_rate"
                )
            entry = EpochLog(epoch, total / max(seen, 1), val_loss, val_score, lr)
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_loss)
            elif scheduler is not None:
                scheduler.step()
            best.history.append(entry)
            bar.update(entry)
            if on_epoch is not None:
                on_epoch(entry)
            if val_loss < best.best_val_loss:
                best.best_epoch, best.best_val_loss = epoch, val_loss
                best.best_val_score = val_score
                best_state = copy.deepcopy(model.state_dict())
                stale = 0
            else:
                stale += 1
                if stale >= settings.patience:
                    break
    model.load_state_dict(best_state)
    model.eval()
    return best
