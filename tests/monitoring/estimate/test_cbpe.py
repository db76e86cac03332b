"""CBPE against a known truth: labels drawn from known probabilities, the served
probabilities over-confident, the calibration fitted on an unshifted sample, then the
population shifted. The realized metrics must fall in the estimate's band about as often
as the band claims (95%)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from monitoring.estimate.cbpe import estimate, expected_auc
from training.calibration import fit_calibration
from trainsmart.registry.calibration import Calibration

WEIGHTS = np.array([[1.5, -1.0, 0.0], [0.0, 1.0, -1.2], [-1.0, 0.0, 1.0]])


class World:
    """Rows x ~ N(0, spread) in 3 dimensions (a narrower spread: more rows near the
    boundary, a harder population); true class probabilities softmax(x W) (the
    first ``classes`` columns); the model serves softmax(2.5 x W): right ranking,
    over-confident probabilities."""

    def __init__(self, classes: int, seed: int) -> None:
        self.classes = classes
        self.rng = np.random.default_rng(seed)

    def draw(self, n: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        x = self.rng.normal(0.0, spread, size=(n, 3))
        logits = x @ WEIGHTS[:, : self.classes]
        truth = _softmax(logits)
        cumulative = truth.cumsum(axis=1)
        y = (self.rng.random((n, 1)) > cumulative).sum(axis=1).clip(0, self.classes - 1)
        return _softmax(2.5 * logits), y


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _realized(served: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    accuracy = float((served.argmax(axis=1) == y).mean())
    if served.shape[1] == 2:
        return accuracy, float(roc_auc_score(y, served[:, 1]))
    return accuracy, float(roc_auc_score(y, served, multi_class="ovr", average="macro"))


def _fit(world: World) -> Calibration:
    served, y = world.draw(3000)
    return fit_calibration(served, y, [str(c) for c in range(world.classes)])


@pytest.mark.parametrize("classes", [2, 3])
def test_the_realized_metrics_fall_in_the_band_under_a_covariate_shift(classes: int) -> None:
    world = World(classes, seed=classes)
    calibration = _fit(world)
    windows = 60
    inside = {"accuracy": 0, "roc_auc": 0}
    gaps: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
    realized_by_shift: dict[float, list[float]] = {}
    for i in range(windows):
        shift = (1.0, 0.6, 0.35)[i % 3]
        served, y = world.draw(300, shift)
        truth = dict(zip(("accuracy", "roc_auc"), _realized(served, y), strict=True))
        realized_by_shift.setdefault(shift, []).append(truth["accuracy"])
        for one in estimate(served, calibration):
            inside[one.metric] += one.lower <= truth[one.metric] <= one.upper
            gaps[one.metric].append(one.value - truth[one.metric])
    # the shift really moves the metric, so a constant guess would not pass
    means = [np.mean(v) for v in realized_by_shift.values()]
    assert max(means) - min(means) > 0.08
    for metric in inside:
        assert inside[metric] >= 0.85 * windows, (metric, inside[metric])  # a 95% band
        assert abs(np.mean(gaps[metric])) < 0.01, metric  # no bias


def test_calibrated_estimates_differ_from_raw_and_are_closer_to_the_truth() -> None:
    world = World(2, seed=11)
    calibration = _fit(world)
    assert calibration.method != "none"
    served, y = world.draw(2000, spread=0.6)
    accuracy, _ = _realized(served, y)
    [calibrated] = estimate(served, calibration, ["accuracy"])
    [raw] = estimate(served, None, ["accuracy"])
    assert raw.value - calibrated.value > 0.03  # the raw probabilities are over-confident
    assert abs(calibrated.value - accuracy) < abs(raw.value - accuracy)
    assert not raw.lower <= accuracy <= raw.upper
    assert calibrated.lower <= accuracy <= calibrated.upper


def test_the_expected_auc_of_certain_labels_is_the_plain_auc() -> None:
    rng = np.random.default_rng(3)
    score = rng.random(500).round(2)  # ties included
    labels = (rng.random(500) < score).astype(float)
    assert expected_auc(score, labels) == pytest.approx(roc_auc_score(labels, score))


def test_the_accuracy_band_is_the_bernoulli_band() -> None:
    served = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    [one] = estimate(served, None, ["accuracy"], z=2.0)
    c = np.array([0.9, 0.8, 0.7, 0.6])
    sigma = np.sqrt(np.sum(c * (1 - c))) / 4
    assert (one.metric, one.rows) == ("accuracy", 4)
    np.testing.assert_allclose(
        [one.value, one.lower, one.upper],
        [0.75, 0.75 - 2 * sigma, 1.0],  # clipped at 1
    )


def test_a_window_of_one_predicted_class_only_still_has_an_auc_band() -> None:
    served = np.tile([[0.2, 0.8]], (50, 1)) + np.linspace(0, 0.1, 50)[:, None] * [1, -1]
    accuracy, auc = estimate(served, None)
    assert 0.7 < accuracy.value < 0.8
    assert auc.lower <= auc.value <= auc.upper


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="rows x classes"):
        estimate(np.zeros((0, 2)), None)
    with pytest.raises(ValueError, match="cannot estimate"):
        estimate(np.full((3, 2), 0.5), None, ["f1"])
