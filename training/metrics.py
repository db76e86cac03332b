"""Classification metrics from class probabilities (no torch here).

Binary problems score the positive class ``classes[-1]``; multiclass problems
use macro averages (ROC AUC one-vs-rest). ``roc_auc`` is left out when the true
labels hold a single class, where it is undefined.

Example::

    classification_metrics(["0", "1"], np.array([[0.8, 0.2], [0.3, 0.7]]), ["0", "1"])
    # {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0, "roc_auc": 1.0, "rows": 2.0}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trainsmart.errors import TrainingError

if TYPE_CHECKING:
    from trainsmart.registry.contract import InputContract


def classification_metrics(
    y_true: Sequence[str] | np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
) -> dict[str, float]:
    """accuracy, precision, recall, f1, roc_auc (when defined) and rows."""
    from sklearn.metrics import (  # lazy: scikit-learn (~0.6 s)
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    labels = [str(v) for v in np.asarray(y_true, dtype=object).tolist()]
    classes = [str(c) for c in classes]
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape != (len(labels), len(classes)):
        raise TrainingError(
            f"probabilities have shape {proba.shape}; expected ({len(labels)}, {len(classes)}) "
            "(one row per label, one column per class)"
        )
    if not labels:
        raise TrainingError("cannot compute metrics on zero rows")
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    binary = len(classes) == 2
    averaging = {"average": "binary", "pos_label": classes[-1]} if binary else {"average": "macro"}
    result: dict[str, float] = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(
            precision_score(labels, predicted, labels=classes, zero_division=0, **averaging)
        ),
        "recall": float(
            recall_score(labels, predicted, labels=classes, zero_division=0, **averaging)
        ),
        "f1": float(f1_score(labels, predicted, labels=classes, zero_division=0, **averaging)),
    }
    present = set(labels)
    if len(present) >= 2:
        try:
            if binary:
                positive = np.array([label == classes[-1] for label in labels], dtype=int)
                result["roc_auc"] = float(roc_auc_score(positive, proba[:, -1]))
            else:
                scores = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
                result["roc_auc"] = float(
                    roc_auc_score(
                        labels, scores, labels=classes, multi_class="ovr", average="macro"
                    )
                )
        except ValueError:  # e.g. a class of `classes` absent from the labels
            pass
    result["rows"] = float(len(labels))
    return result


def _labels_and_predictions(
    y_true: Sequence[str] | np.ndarray, proba: np.ndarray, classes: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    labels = [str(v) for v in np.asarray(y_true, dtype=object).tolist()]
    names = [str(c) for c in classes]
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape != (len(labels), len(names)):
        raise TrainingError(
            f"probabilities have shape {proba.shape}; expected ({len(labels)}, {len(names)}) "
            "(one row per label, one column per class)"
        )
    return labels, [names[i] for i in proba.argmax(axis=1)], names


def confusion(
    y_true: Sequence[str] | np.ndarray, proba: np.ndarray, classes: Sequence[str]
) -> list[list[int]]:
    """Counts ``[true class][predicted class]`` in the order of ``classes``.

    Example::

        confusion(["0", "1", "1"], np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]), ["0", "1"])
        # [[1, 0], [1, 1]]
    """
    labels, predicted, names = _labels_and_predictions(y_true, proba, classes)
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise TrainingError(f"labels {unknown[:5]} are not among the classes {names}")
    index = {c: i for i, c in enumerate(names)}
    counts = [[0] * len(names) for _ in names]
    for label, guess in zip(labels, predicted, strict=True):
        counts[index[label]][index[guess]] += 1
    return counts


def per_class_metrics(
    y_true: Sequence[str] | np.ndarray, proba: np.ndarray, classes: Sequence[str]
) -> dict[str, dict[str, float]]:
    """precision, recall, f1 and support (true rows) of each class, keyed by class."""
    from sklearn.metrics import precision_recall_fscore_support  # lazy: scikit-learn

    labels, predicted, names = _labels_and_predictions(y_true, proba, classes)
    if not labels:
        raise TrainingError("cannot compute metrics on zero rows")
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=names, zero_division=0
    )
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": float(support[i]),
        }
        for i, name in enumerate(names)
    }


LOWER_IS_BETTER = frozenset({"mse", "mae", "loss"})
"""Metrics where a smaller value is the better model."""


def regression_metrics(y_true: Sequence[Any] | np.ndarray, values: np.ndarray) -> dict[str, float]:
    """mse, rmse, mae, r2 (when the labels vary) and rows of predicted ``values`` ``[n]`` or
    ``[n, 1]``.

    Example::

        regression_metrics([1.0, 2.0, 3.0], np.array([[1.0], [2.5], [3.0]]))
        # {"mse": 0.0833, "rmse": 0.2887, "mae": 0.1667, "r2": 0.875, "rows": 3.0}
    """
    truth = _numbers(y_true)
    predicted = np.asarray(values, dtype=np.float64).reshape(-1)
    if predicted.shape != truth.shape:
        raise TrainingError(
            f"predictions have {predicted.size} values for {truth.size} labels; expected one "
            "value per row"
        )
    if not truth.size:
        raise TrainingError("cannot compute metrics on zero rows")
    error = predicted - truth
    mse = float(np.mean(error**2))
    result = {"mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(error)))}
    spread = float(np.sum((truth - truth.mean()) ** 2))
    if spread > 0:
        result["r2"] = 1.0 - float(np.sum(error**2)) / spread
    result["rows"] = float(truth.size)
    return result


def _numbers(y_true: Sequence[Any] | np.ndarray) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in np.asarray(y_true, dtype=object).reshape(-1)])
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"regression labels must be numbers ({exc})") from exc


def evaluate(
    contract: InputContract, y_true: Sequence[Any] | np.ndarray, outputs: np.ndarray
) -> dict[str, float]:
    """The task's metrics of a model's ``outputs`` (probabilities or values) for ``y_true``."""
    if contract.task == "regression":
        return regression_metrics(y_true, outputs)
    return classification_metrics(y_true, outputs, contract.classes)


def primary_metric(task: str) -> str:
    """The metric variants are compared on: accuracy (classification) or r2 (regression)."""
    return "r2" if task == "regression" else "accuracy"


def resolve_metric(metric: str, task: str) -> str:
    """``metric`` checked against ``task``; 'auto' becomes accuracy or mse."""
    regression = {"mse", "mae", "r2"}
    if metric == "auto":
        return "mse" if task == "regression" else "accuracy"
    if (metric in regression) != (task == "regression"):
        kind = "regression (mse, mae, r2)" if task == "regression" else "classification"
        raise TrainingError(
            f"metric '{metric}' does not fit a {task} model; use a {kind} metric or 'auto'"
        )
    return metric


def improvement(metric: str, champion: float, challenger: float) -> float:
    """How much better ``challenger`` is than ``champion`` (positive: better)."""
    return champion - challenger if metric in LOWER_IS_BETTER else challenger - champion
