from __future__ import annotations

import numpy as np
import pytest

from training.metrics import classification_metrics
from trainsmart.errors import TrainingError


def test_binary_metrics_use_the_last_class_as_positive() -> None:
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]])
    result = classification_metrics(["0", "1", "0", "1"], proba, ["0", "1"])
    assert result["accuracy"] == 0.5
    assert result["precision"] == 0.5
    assert result["recall"] == 0.5
    assert result["roc_auc"] == 0.5  # positives 0.6, 0.4 vs negatives 0.1, 0.7
    assert result["rows"] == 4


def test_single_class_leaves_out_roc_auc() -> None:
    result = classification_metrics(["1", "1"], np.array([[0.2, 0.8], [0.6, 0.4]]), ["0", "1"])
    assert "roc_auc" not in result
    assert result["accuracy"] == 0.5


def test_multiclass_is_macro() -> None:
    proba = np.eye(3)[[0, 1, 2, 2]]
    result = classification_metrics(["a", "b", "c", "c"], proba, ["a", "b", "c"])
    assert result["accuracy"] == result["f1"] == result["roc_auc"] == 1.0


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(TrainingError, match="expected \\(2, 2\\)"):
        classification_metrics(["0", "1"], np.zeros((3, 2)), ["0", "1"])
