"""ROC and precision-recall curves of a classifier on the test split, for the report.

One-vs-rest: each class against all others, from the served model's probability of that
class; a binary model shows its positive class (the second) only. The legend gives each
curve's area (ROC AUC; average precision for the PR curve), and the title the macro
mean. A class with no positive (or no negative) test row has no curve; the legend says
so.

Drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas
(:func:`training.figures.new_figure`), never through pyplot.

Example::

    roc, pr = roc_pr_figures(y_test, proba, classes, "int8_dynamic")
    save_roc_pr(out, (y_test, proba), classes, "int8_dynamic")   # roc.png, pr.png
    curve_summary(y_test, proba, classes)   # {"1": {"roc_auc": 0.78, "average_precision": 0.61}}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from training.figures import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROC_FILE = "roc.png"
PR_FILE = "pr.png"
MAX_LEGEND = 12
"""Classes named in a legend at most (the rest are drawn, unnamed)."""


def _shown(classes: Sequence[str]) -> list[int]:
    """Indices of the classes that get a curve (binary: the positive class only)."""
    return [1] if len(classes) == 2 else list(range(len(classes)))


def _one_vs_rest(
    truth: Sequence[str], proba: np.ndarray, classes: Sequence[str]
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(class index, 0/1 truth, score) per shown class with both outcomes in the truth."""
    labels = np.asarray([str(t) for t in truth])
    out = []
    for k in _shown(classes):
        positive = (labels == str(classes[k])).astype(np.int64)
        if 0 < positive.sum() < len(positive):
            out.append((k, positive, np.asarray(proba, dtype=np.float64)[:, k]))
    return out


def curve_summary(
    truth: Sequence[str], proba: np.ndarray, classes: Sequence[str]
) -> dict[str, dict[str, float]]:
    """ROC AUC and average precision per shown class (classes without both outcomes left out)."""
    from sklearn.metrics import average_precision_score, roc_auc_score  # lazy: scikit-learn

    return {
        str(classes[k]): {
            "roc_auc": float(roc_auc_score(positive, score)),
            "average_precision": float(average_precision_score(positive, score)),
        }
        for k, positive, score in _one_vs_rest(truth, proba, classes)
    }


def roc_pr_figures(
    truth: Sequence[str], proba: np.ndarray, classes: Sequence[str], variant: str | None
) -> tuple[Figure, Figure]:
    """(ROC figure, precision-recall figure) of ``proba`` ``[n, classes]`` against ``truth``."""
    from sklearn.metrics import precision_recall_curve, roc_curve  # lazy: scikit-learn

    summary = curve_summary(truth, proba, classes)
    curves = _one_vs_rest(truth, proba, classes)
    missing = [str(classes[k]) for k in _shown(classes) if str(classes[k]) not in summary]
    which = f"{variant or 'serving'}, test split"
    binary = len(classes) == 2
    roc, pr = new_figure(6.0, 5.0), new_figure(6.0, 5.0)
    roc_ax, pr_ax = roc.subplots(), pr.subplots()
    for i, (k, positive, score) in enumerate(curves):
        name = str(classes[k])
        named = i < MAX_LEGEND
        fpr, tpr, _ = roc_curve(positive, score)
        roc_ax.plot(
            fpr, tpr, label=f"{name} (AUC {summary[name]['roc_auc']:.3f})" if named else None
        )
        precision, recall, _ = precision_recall_curve(positive, score)
        ap = summary[name]["average_precision"]
        pr_ax.plot(
            recall,
            precision,
            drawstyle="steps-post",
            label=f"{name} (AP {ap:.3f})" if named else None,
        )
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="chance")
    if binary and curves:  # a random score's precision: the positive class's share
        share = float(curves[0][1].mean())
        pr_ax.axhline(
            share, color="grey", linestyle="--", linewidth=0.8, label=f"chance {share:.2f}"
        )
    scope = f"class {classes[1]}" if binary else "one-vs-rest"
    roc_ax.set_title(
        f"ROC ({scope}{_macro(summary, 'roc_auc', 'AUC')}; {which})", fontsize="medium"
    )
    pr_ax.set_title(
        f"precision-recall ({scope}{_macro(summary, 'average_precision', 'AP')}; {which})",
        fontsize="medium",
    )
    roc_ax.set_xlabel("false positive rate")
    roc_ax.set_ylabel("true positive rate")
    pr_ax.set_xlabel("recall")
    pr_ax.set_ylabel("precision")
    for ax in (roc_ax, pr_ax):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.grid(alpha=0.3)
        if missing:
            ax.plot([], [], " ", label=f"no curve (one outcome only): {', '.join(missing[:5])}")
        ax.legend(
            fontsize="small" if len(curves) <= 4 else "x-small",
            loc="lower left" if ax is pr_ax else "lower right",
        )
    return roc, pr


def _macro(summary: dict[str, dict[str, float]], key: str, label: str) -> str:
    if len(summary) < 2:
        return ""
    return f", macro {label} {np.mean([v[key] for v in summary.values()]):.3f}"


Scores = tuple[Sequence[str], Sequence[Sequence[float]]]
"""(true labels, probabilities ``[n, classes]``) of the test split."""


def save_roc_pr(
    folder: Path, scores: Scores | None, classes: Sequence[str], variant: str | None
) -> None:
    """Write ``roc.png`` and ``pr.png`` into ``folder`` (nothing when ``scores`` is None)."""
    if scores is None:
        return
    roc, pr = roc_pr_figures(scores[0], np.asarray(scores[1]), classes, variant)
    save_figure(roc, folder / ROC_FILE)
    save_figure(pr, folder / PR_FILE)


def roc_pr_markdown(scores: Scores | None, classes: Sequence[str]) -> list[str]:
    """The report's section: both figures side by side and the areas per class."""
    if scores is None:
        return []
    truth, proba = scores[0], np.asarray(scores[1])
    summary = curve_summary(truth, proba, classes)
    scope = f"class {classes[1]} against {classes[0]}" if len(classes) == 2 else "one-vs-rest"
    lines = [
        "## ROC and precision-recall curves (serving variant, test split)",
        "",
        f"Each class's probability as a score ({scope}); AUC: area under the ROC curve, "
        "AP: average precision.",
        "",
        f"![ROC curves]({ROC_FILE}) ![precision-recall curves]({PR_FILE})",
        "",
    ]
    if summary:
        lines += ["| class | ROC AUC | AP |", "|---|---|---|"]
        lines += [
            f"| {name} | {v['roc_auc']:.4f} | {v['average_precision']:.4f} |"
            for name, v in summary.items()
        ]
        lines.append("")
    return lines
