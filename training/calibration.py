"""Calibrate a classifier's served probabilities on the validation split, for the bundle.

The monitor estimates a model's performance without labels from its probabilities
(``monitoring/estimate/``, confidence-based performance estimation); that is only as good
as the probabilities are calibrated. So after the serving variant is chosen, the
validation split's probabilities of ``model.onnx`` are calibrated with
``training.calibration``:

- ``isotonic``: one isotonic map per class (one-vs-rest), renormalised per row;
- ``temperature``: one temperature T and a bias per class, ``softmax(log(p) / T + b)``
  (bias-corrected temperature scaling: the bias undoes the class prior a model trained
  with ``class_weights`` shifts towards the rare class);
- ``none``: kept as they are (the file still records the validation ECE);
- ``auto`` (default): the one of the three with the lowest log-loss, each fitted on one
  half of the validation rows and scored on the other (2-fold cross-fitting), so
  isotonic's flexibility is not rewarded for fitting noise.

The chosen map is then fitted on all validation rows and written to ``calibration.json``
(``trainsmart/registry/calibration.py``) with the validation figures: the top-label
expected calibration error (ECE, 10 equal-width bins) and the log-loss before and after,
both cross-fitted (out-of-fold), and every candidate's cross-fitted log-loss.
Regression models get no calibration.

Example::

    calibration = fit_calibration(proba_validation, y_validation, contract.classes)
    calibration.validation["ece_after"] <= calibration.validation["ece_before"]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression

from training.onnx_parity import onnx_predict
from trainsmart.registry.bundle import MODEL_FILE
from trainsmart.registry.calibration import EPS, Calibration, Method

if TYPE_CHECKING:
    from training.train import TrainedModel

log = logging.getLogger(__name__)
Choice = Literal["auto", "isotonic", "temperature", "none"]
METHODS: tuple[Method, ...] = ("none", "temperature", "isotonic")


def expected_calibration_error(
    probabilities: np.ndarray, y_index: np.ndarray, bins: int = 10
) -> float:
    """Top-label ECE: the rows' |accuracy - confidence| per confidence bin, weighted by the
    bin's share of rows (confidence: the highest probability of the row)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(y_index)
    if len(p) == 0:
        return 0.0
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def log_loss(probabilities: np.ndarray, y_index: np.ndarray) -> float:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), EPS, 1.0)
    return float(-np.mean(np.log(p[np.arange(len(p)), np.asarray(y_index)])))


def _indices(y: Sequence[Any] | np.ndarray, classes: list[str]) -> np.ndarray:
    """Class positions of ``y``: labels (as text) when they all name classes, else indices."""
    values = np.asarray(y)
    position = {c: i for i, c in enumerate(classes)}
    texts = [_text(v) for v in values.tolist()]
    if all(t in position for t in texts):
        return np.array([position[t] for t in texts], dtype=np.int64)
    if values.dtype.kind in "iu" and (
        len(values) == 0 or 0 <= values.min() <= values.max() < len(classes)
    ):
        return values.astype(np.int64)
    raise ValueError(
        f"labels {sorted(set(texts))[:5]} are neither classes {classes} nor their indices"
    )


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fit(method: Method, p: np.ndarray, y: np.ndarray, classes: list[str]) -> Calibration:
    if method == "temperature":
        return _temperature(p, y, classes)
    if method == "isotonic":
        thresholds = []
        for k in range(len(classes)):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(p[:, k], (y == k).astype(np.float64))
            # never quite 0 or 1: a bin without a class must not make it impossible
            floor = 0.5 / (len(p) + 1)
            ys = np.clip(iso.y_thresholds_, floor, 1.0 - floor)
            thresholds.append(([float(v) for v in iso.X_thresholds_], [float(v) for v in ys]))
        return Calibration("isotonic", classes, thresholds=thresholds)
    return Calibration("none", classes)


def _temperature(p: np.ndarray, y: np.ndarray, classes: list[str]) -> Calibration:
    """Bias-corrected temperature scaling: T and a bias per class (the first fixed at 0)
    minimising the log-loss (L-BFGS from T=1, no bias)."""
    log_p = np.log(np.clip(p, EPS, 1.0))
    rows = np.arange(len(p))

    def nll(theta: np.ndarray) -> float:
        logits = log_p / np.exp(theta[0]) + np.r_[0.0, theta[1:]]
        logits -= logits.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(logits).sum(axis=1))
        return float(np.mean(log_z - logits[rows, y]))

    start = np.zeros(len(classes))
    best = minimize(nll, start, method="L-BFGS-B", bounds=[(-3.0, 3.0)] * len(classes))
    theta = best.x if best.fun <= nll(start) else start
    bias = [0.0, *(float(b) for b in theta[1:])]
    return Calibration("temperature", classes, float(np.exp(theta[0])), bias)


def _cross_fitted(
    method: Method, p: np.ndarray, y: np.ndarray, classes: list[str], seed: int
) -> np.ndarray:
    """Out-of-fold calibrated probabilities: each half calibrated by a map fitted on the
    other half."""
    order = np.random.default_rng(seed).permutation(len(p))
    halves = (order[: len(p) // 2], order[len(p) // 2 :])
    out = np.empty_like(p, dtype=np.float64)
    for fit_on, score_on in (halves, halves[::-1]):
        out[score_on] = _fit(method, p[fit_on], y[fit_on], classes).apply(p[score_on])
    return out


def fit_calibration(
    probabilities: np.ndarray,
    y: Sequence[Any] | np.ndarray,
    classes: list[str],
    method: Choice = "auto",
    seed: int = 0,
) -> Calibration:
    """Calibrate ``probabilities`` (rows x classes, ``classes`` order) against the true
    ``y`` (class labels, or their indices); ``auto`` chooses by cross-fitted log-loss."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    y_index = _indices(y, classes)
    if len(p) < 4:  # too few rows to fit or cross-fit anything
        method = "none"
    candidates = METHODS if method == "auto" else (method,)
    oof = {m: _cross_fitted(m, p, y_index, classes, seed) for m in candidates}
    losses = {m: log_loss(oof[m], y_index) for m in candidates}
    chosen: Method = min(candidates, key=lambda m: (losses[m], METHODS.index(m)))
    calibration = _fit(chosen, p, y_index, classes)
    validation = {
        "rows": len(p),
        "setting": method,
        "ece_before": expected_calibration_error(p, y_index),
        "ece_after": expected_calibration_error(oof[chosen], y_index),
        "log_loss_before": log_loss(p, y_index),
        "log_loss_after": losses[chosen],
        "cross_fitted_log_loss": losses,
    }
    return replace(calibration, validation=validation)


def calibrate_staged(trained: TrainedModel, staging: Path, method: Choice) -> Calibration | None:
    """Fit the calibration of the staged ``model.onnx`` on the validation split and write
    ``calibration.json`` beside it; None (nothing written) for a regression model."""
    contract = trained.contract
    if contract.task == "regression":
        return None
    validation = trained.splits.validation
    proba = onnx_predict(staging / MODEL_FILE, trained.encode(validation.frame))
    calibration = fit_calibration(proba, validation.target.tolist(), contract.classes, method)
    calibration.write(staging)
    figures = calibration.validation
    log.info(
        "calibration: %s on %d validation rows, ECE %.4f -> %.4f",
        calibration.method,
        figures["rows"],
        figures["ece_before"],
        figures["ece_after"],
    )
    return calibration
