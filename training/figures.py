"""The report's figures, drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas.

Never through pyplot: no backend is switched and no figure outlives the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from training.frameworks.base import FitResult


def new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: matplotlib (~0.4 s)
    from matplotlib.figure import Figure  # lazy: matplotlib (~0.4 s)

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: Path) -> None:
    try:
        figure.savefig(path, format="png", metadata={"Software": None})
    finally:
        figure.clear()


def curves_figure(fit: FitResult) -> Figure:
    from matplotlib.ticker import MaxNLocator  # lazy: matplotlib (~0.4 s)

    figure = new_figure(9, 3.6)
    loss_ax, acc_ax = figure.subplots(1, 2)
    epochs = [e.epoch for e in fit.history]
    loss_ax.plot(epochs, [e.train_loss for e in fit.history], marker=".", label="train loss")
    loss_ax.plot(epochs, [e.val_loss for e in fit.history], marker=".", label="validation loss")
    acc_ax.plot(
        epochs,
        [e.val_score for e in fit.history],
        marker=".",
        color="tab:green",
        label=f"validation {fit.score_name}",
    )
    for ax, title in ((loss_ax, "loss"), (acc_ax, f"validation {fit.score_name}")):
        if fit.history:
            ax.axvline(
                fit.best_epoch,
                color="tab:red",
                linestyle="--",
                label=f"best epoch {fit.best_epoch}",
            )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if not fit.history:
        loss_ax.text(0.5, 0.5, "no epochs recorded", ha="center", transform=loss_ax.transAxes)
    return figure


def confusion_figure(
    confusion: Sequence[Sequence[int]], classes: Sequence[str], variant: str | None
) -> Figure:
    counts = np.asarray(confusion, dtype=np.int64).reshape(len(classes), len(classes))
    side = min(10.0, 2.5 + 0.5 * len(classes))
    figure = new_figure(side + 1.0, side)
    ax = figure.subplots()
    image = ax.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=ax, shrink=0.8)
    ticks = list(range(len(classes)))
    ax.set_xticks(ticks, labels=list(classes), rotation=45 if len(classes) > 6 else 0)
    ax.set_yticks(ticks, labels=list(classes))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix ({variant or 'serving'}, test split)")
    threshold = counts.max() / 2 if counts.size else 0
    size = "small" if len(classes) > 6 else "medium"
    for (i, j), n in np.ndenumerate(counts):
        colour = "white" if n > threshold else "black"
        ax.text(j, i, str(n), ha="center", va="center", color=colour, fontsize=size)
    return figure


def predictions_figure(
    truth: Sequence[float], predicted: Sequence[float], variant: str | None
) -> Figure:
    """Predicted against true values, with the diagonal of perfect predictions."""
    true_values = np.asarray(truth, dtype=np.float64)
    guesses = np.asarray(predicted, dtype=np.float64).reshape(-1)
    figure = new_figure(5.5, 5.0)
    ax = figure.subplots()
    ax.scatter(true_values, guesses, s=12, alpha=0.6, color="tab:blue")
    if true_values.size:
        low = float(min(true_values.min(), guesses.min()))
        high = float(max(true_values.max(), guesses.max()))
        ax.plot([low, high], [low, high], color="tab:red", linestyle="--", label="perfect")
        ax.legend(fontsize="small")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.set_title(f"predictions ({variant or 'serving'}, test split)")
    ax.grid(alpha=0.3)
    return figure


def importance_figure(ranked: Sequence[tuple[str, float, float]], metric: str) -> Figure:
    """Permutation importance as horizontal bars (most important on top) with the std over
    the repeats as error bars; ``ranked`` is (feature, mean, std), most important first."""
    shown = list(ranked)[:30]
    figure = new_figure(7.0, 1.2 + 0.3 * max(len(shown), 1))
    ax = figure.subplots()
    names = [name for name, _, _ in reversed(shown)]
    means = [mean for _, mean, _ in reversed(shown)]
    stds = [std for _, _, std in reversed(shown)]
    ax.barh(names, means, xerr=stds, color="tab:blue", ecolor="black", capsize=3)
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel(f"drop of {metric} when the column is shuffled")
    more = f" (top {len(shown)} of {len(ranked)})" if len(ranked) > len(shown) else ""
    ax.set_title(f"permutation importance, test split{more}")
    ax.grid(axis="x", alpha=0.3)
    return figure
