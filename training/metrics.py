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

import numpy as np

from trainsmart.errors import TrainingError


def classification_metrics(
    y_true: Sequence[str] | np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
) -> dict[str, float]:
    """accuracy, precision, recall, f1, roc_auc (when defined) and rows."""
    from sklearn.metrics import (
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
