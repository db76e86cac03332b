"""The loop's shared parts: minority oversampling, class weights, the progress bar."""

from __future__ import annotations

import numpy as np

from training.frameworks import EpochLog
from training.frameworks.fitting import ProgressBar, class_weights, oversample


def test_oversample_balances_and_keeps_every_row() -> None:
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.array([0] * 7 + [1] * 2 + [2] * 1)
    xo, yo = oversample(x, y, seed=3)
    assert np.bincount(yo).tolist() == [7, 7, 7]
    np.testing.assert_array_equal(xo[:10], x)  # the original rows first, unchanged
    np.testing.assert_array_equal(yo[:10], y)
    for row, label in zip(xo[10:], yo[10:], strict=True):  # repeats are real rows of the class
        assert any(np.array_equal(row, x[i]) for i in np.flatnonzero(y == label))
    again = oversample(x, y, seed=3)
    np.testing.assert_array_equal(again[0], xo)
    balanced = np.array([0, 1, 0, 1])
    assert oversample(x[:4], balanced, seed=3)[1] is balanced


def test_class_weights_are_inverse_frequency_and_one_when_balanced() -> None:
    weights = class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights, [4 / 9, 4 / 3, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(class_weights(np.array([0, 1, 1, 0]), 2), [1.0, 1.0])


def test_progress_bar_shows_the_learning_rate() -> None:
    with ProgressBar(True, 2) as bar:
        bar.update(EpochLog(1, 0.5, 0.6, 0.7, lr=2.5e-4))
        description = bar._progress.tasks[0].description
    assert "lr 2.50e-04" in description and "val acc 0.700" in description
