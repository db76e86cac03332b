"""The Keras training loop, with the torch loop's semantics
(:mod:`training.frameworks.pytorch.trainer`).

Same inputs and result as :func:`training.frameworks.pytorch.trainer.fit`: AdamW with weight decay,
class-weighted cross-entropy, early stopping on the class-weighted validation loss
(computed like torch's: sum of weighted losses / sum of weights) with the best epoch's
weights restored, the epoch-wise learning-rate schedules, gradient-norm clipping and
minority oversampling. Keras's own validation is not used, so ``val_loss`` means the same
number under both frameworks.

Determinism: :func:`keras.utils.set_random_seed` seeds Python, NumPy, TensorFlow and
Keras (weights, shuffling, dropout) and TensorFlow's op determinism is switched on.
TensorFlow offers no public switch to turn op determinism off again, so it stays on for
the rest of the process (it only affects TensorFlow ops).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from training.frameworks.base import EpochLog, FitResult
from training.frameworks.fitting import (
    ProgressBar,
    check_rows,
    class_weights,
    oversample,
    target_scale,
)
from training.frameworks.keras.models import build_models, import_keras
from training.preprocess import Preprocessor
from training.settings import TrainingSettings
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import InputContract


def seed_everything(seed: int) -> None:
    """Seed Keras and every generator it draws from; make TensorFlow ops deterministic."""
    keras = import_keras()
    import tensorflow as tf  # lazy: TensorFlow (seconds), an optional extra

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def scheduled_lr(settings: TrainingSettings, epoch: int, current: float, bad: int) -> float:
    """Learning rate for ``epoch`` (1-based), as torch's StepLR / CosineAnnealingLR /
    ReduceLROnPlateau would set it; ``bad`` is the plateau's epochs without improvement."""
    base = settings.learning_rate
    if settings.lr_schedule == "step":
        return base * settings.lr_gamma ** ((epoch - 1) // settings.lr_step_size)
    if settings.lr_schedule == "cosine":
        return base * (1 + math.cos(math.pi * (epoch - 1) / settings.max_epochs)) / 2
    if settings.lr_schedule == "plateau" and bad > settings.lr_plateau_patience:
        return current * settings.lr_plateau_factor
    return current


def weighted_loss(logits: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> float:
    """Cross-entropy from logits, weighted like torch's ``CrossEntropyLoss(weight=...)``."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_proba = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses = -log_proba[np.arange(len(y)), y]
    w = np.ones(len(y)) if weights is None else weights[y].astype(np.float64)
    return float((w * losses).sum() / max(w.sum(), 1e-12))


def _validate(
    outputs: np.ndarray, y: np.ndarray, weights: np.ndarray | None, regression: bool
) -> tuple[float, float]:
    """(validation loss, score) as torch computes them: weighted cross-entropy and accuracy,
    or the mean squared error of the standardised value and R2."""
    if regression:
        error = outputs.reshape(-1).astype(np.float64) - y.astype(np.float64)
        spread = float(((y - y.mean()) ** 2).sum())
        mse = float((error**2).mean())
        return mse, 1.0 - float((error**2).sum()) / spread if spread > 0 else 0.0
    accuracy = float((outputs.argmax(axis=1) == y).mean())
    return weighted_loss(outputs, y, weights), accuracy


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
) -> FitResult[Any]:
    """Train the Keras model on encoded rows (labels are class indices, or target values
    for regression).

    ``result.model`` is the exported model (softmax probabilities, or the value).
    """
    check_rows(x_train, x_val)
    keras = import_keras()
    seed_everything(settings.seed)
    regression = contract.task == "regression"
    weights: np.ndarray | None = None
    if regression:
        mean, std = target_scale(y_train)
        models = build_models(preprocessor, contract, settings, target_mean=mean, target_std=std)
        loss = keras.losses.MeanSquaredError()
        y_fit = ((np.asarray(y_train, dtype=np.float64) - mean) / std).astype(np.float32)
        y_check = ((np.asarray(y_val, dtype=np.float64) - mean) / std).astype(np.float32)
    else:
        if settings.oversample_minority:
            x_train, y_train = oversample(x_train, y_train, settings.seed)
        n_classes = len(contract.classes)
        models = build_models(preprocessor, contract, settings)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if settings.class_weights:
            weights = class_weights(y_train, n_classes)
        y_fit, y_check = y_train, y_val
    optimizer = keras.optimizers.AdamW(
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        global_clipnorm=settings.grad_clip_norm,
    )
    models.logits.compile(optimizer=optimizer, loss=loss)
    xt = np.ascontiguousarray(x_train, dtype=np.float32)
    xv = np.ascontiguousarray(x_val, dtype=np.float32)
    sample_weight = None if weights is None else weights[y_train].astype(np.float32)
    best: FitResult[Any] = FitResult(
        models.proba,
        0,
        float("inf"),
        -float("inf") if regression else 0.0,
        score_name="r2" if regression else "accuracy",
        train_rows=len(xt),
    )
    best_weights = models.logits.get_weights()
    stale, bad, plateau_best = 0, 0, float("inf")
    with ProgressBar(progress, settings.max_epochs, "r2" if regression else "acc") as bar:
        for epoch in range(1, settings.max_epochs + 1):
            lr = scheduled_lr(settings, epoch, float(optimizer.learning_rate), bad)
            if lr != float(optimizer.learning_rate):
                optimizer.learning_rate.assign(lr)
                bad = 0
            history = models.logits.fit(
                xt,
                y_fit,
                sample_weight=sample_weight,
                batch_size=settings.batch_size,
                epochs=1,
                shuffle=True,
                verbose=0,
            )
            logits = np.asarray(models.logits(xv, training=False))
            val_loss, score = _validate(logits, y_check, weights, regression)
            if not np.isfinite(val_loss):
                raise TrainingError(
                    f"validation loss became {val_loss} at epoch {epoch}; "
                    "lower training.learning_rate"
                )
            entry = EpochLog(epoch, float(history.history["loss"][-1]), val_loss, score, lr)
            if val_loss < plateau_best * (1 - 1e-4):  # torch's default relative threshold
                plateau_best, bad = val_loss, 0
            else:
                bad += 1
            best.history.append(entry)
            bar.update(entry)
            if on_epoch is not None:
                on_epoch(entry)
            if val_loss < best.best_val_loss:
                best.best_epoch, best.best_val_loss = epoch, val_loss
                best.best_val_score = score
                best_weights = models.logits.get_weights()
                stale = 0
            else:
                stale += 1
                if stale >= settings.patience:
                    break
    models.logits.set_weights(best_weights)
    return best
