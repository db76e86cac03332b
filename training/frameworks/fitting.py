"""The parts of the training loop that both frameworks share, in NumPy: class weights,
minority oversampling, the regression target's scale, row checks and the progress bar.

Keeping them here is what makes ``val_loss`` and the oversampled rows the same numbers
under PyTorch and Keras.
"""

from __future__ import annotations

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from training.frameworks.base import EpochLog
from trainsmart.errors import TrainingError


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse class frequency (float32), scaled so that a balanced set gets weight 1
    everywhere."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1.0)), 0.0)
    return weights.astype(np.float32)


def oversample(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row once plus random repeats (with replacement, seeded) of the rows of each
    smaller class, until every class present has as many rows as the largest."""
    classes, counts = np.unique(y, return_counts=True)
    rng = np.random.default_rng(seed)
    extra = [
        rng.choice(np.flatnonzero(y == label), size=int(counts.max() - count), replace=True)
        for label, count in zip(classes, counts, strict=True)
        if count < counts.max()
    ]
    if not extra:
        return x, y
    index = np.concatenate([np.arange(len(y)), *extra])
    return x[index], y[index]


def target_scale(y: np.ndarray) -> tuple[float, float]:
    """Mean and std of regression targets (std 1 when constant); the net predicts
    ``(y - mean) / std`` and its output layer undoes it."""
    mean, std = float(np.mean(y)), float(np.std(y))
    return mean, std if std > 1e-12 else 1.0


def check_rows(x_train: np.ndarray, x_val: np.ndarray) -> None:
    """Raise unless both the training and the validation rows are non-empty."""
    if len(x_train) == 0 or len(x_val) == 0:
        raise TrainingError(
            f"training needs rows in both splits (train {len(x_train)}, validation {len(x_val)})"
        )


class ProgressBar:
    """A rich progress bar with the epoch's losses; does nothing when disabled.

    Example::

        with ProgressBar(progress, settings.max_epochs, "acc") as bar:
            for epoch in ...:
                bar.update(EpochLog(epoch, train_loss, val_loss, val_score, lr))
    """

    def __init__(self, enabled: bool, total: int, score: str = "acc") -> None:
        self.enabled = enabled
        self.total = total
        self.score = score

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]epoch"),
                MofNCompleteColumn(),
                BarColumn(),
                TextColumn("{task.description}"),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("", total=self.total)
        return self

    def update(self, entry: EpochLog) -> None:
        if self.enabled:
            self._progress.update(
                self._task,
                advance=1,
                description=(
                    f"train loss {entry.train_loss:.4f}  val loss {entry.val_loss:.4f}  "
                    f"val {self.score} {entry.val_score:.3f}  lr {entry.lr:.2e}"
                ),
            )

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._progress.__exit__(None, None, None)
