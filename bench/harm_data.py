"""Streams of windows for the harm bench (bench/harm.py): real data, a real model, and per
window what each decision rule needs.

Each dataset ships with an installed package: statsmodels' Fair data (any affair),
statsmodels' RAND Health Insurance Experiment data (any doctor visit) and scikit-learn's
8x8 digits. Per dataset one model is fitted on half the rows (gradient boosting for the
tables, logistic regression on the pixels), calibrated on a fifth
(``training.calibration.fit_calibration``, as training does for a bundle) and scored on
the rest (the test split: its accuracy is the version's test metric). Its permutation
importance on the test split has metrics.json's ``"importance"`` shape; the digits model
gets none, as an image bundle.

A stream is ``calm`` windows drawn from the test split (the same population), then
``shifted`` windows from a real subpopulation of it, or from the test images after a
noise, rotation or contrast shift. Per window: the realized accuracy (labels known here),
CBPE's estimate (``monitoring.estimate.cbpe.estimate``, the monitor's call), Evidently's
dataset-drift flag (``DriftDetector.run``, the monitor's hot path) and the
importance-weighted drift share (``monitoring/drift/importance.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from bench.drift_validity import contract_of
from monitoring.drift.detector import DriftDetector
from monitoring.drift.importance import FeatureImportance
from monitoring.drift.options import DriftOptions
from monitoring.estimate.cbpe import estimate
from trainsmart.registry.calibration import Calibration

REFERENCE_ROWS = 1_000


@dataclass
class Fitted:
    """One dataset's model, as a registered version would hold it."""

    name: str
    features: pd.DataFrame
    """Test-split rows (raw features) the windows are drawn from."""
    labels: np.ndarray
    predict_proba: Callable[[pd.DataFrame], np.ndarray]
    calibration: Calibration
    test_accuracy: float
    importance: FeatureImportance | None
    detector: DriftDetector


@dataclass(frozen=True)
class Scenario:
    name: str
    dataset: str
    shift: Callable[[Fitted], tuple[pd.DataFrame, np.ndarray]]
    """The shifted population: its rows (raw features) and labels."""


@dataclass(frozen=True)
class Window:
    shifted: bool
    realized: float
    estimated: float
    sampling_sd: float
    """sqrt(sum c(1-c)) / n: how far the realized accuracy strays from a perfect estimate."""
    dataset_drift: bool
    weighted: float | None


def _tables() -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    import statsmodels.api as sm  # lazy: statsmodels takes a second to import

    fair = sm.datasets.fair.load_pandas().data
    hie = sm.datasets.randhie.load_pandas().data
    return {
        "fair": (fair.drop(columns=["affairs"]), (fair.affairs > 0).to_numpy(int)),
        "hie": (hie.drop(columns=["mdvis"]), (hie.mdvis > 0).to_numpy(int)),
    }


def _digits() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_digits  # lazy: only the bench needs it

    digits = load_digits()
    columns = [f"px{i}" for i in range(digits.data.shape[1])]
    return pd.DataFrame(digits.data / 16.0, columns=columns), digits.target.astype(int)


def _importance(model: Any, x: pd.DataFrame, y: np.ndarray) -> FeatureImportance | None:
    from sklearn.inspection import permutation_importance  # lazy: as above

    rows = min(len(x), 2_000)
    found = permutation_importance(
        model, x.iloc[:rows], y[:rows], scoring="accuracy", n_repeats=5, random_state=0
    )
    features = {
        name: {"mean": float(mean), "std": float(std)}
        for name, mean, std in zip(
            x.columns, found.importances_mean, found.importances_std, strict=True
        )
    }
    section = {"method": "permutation", "metric": "accuracy", "repeats": 5, "rows": rows}
    return FeatureImportance.from_metrics({"importance": {**section, "features": features}})


@cache
def fitted(name: str) -> Fitted:
    """The dataset's model, calibration, test metric, importance and drift detector."""
    # lazy: scikit-learn and training's calibration only for the bench
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from training.calibration import fit_calibration  # lazy: imports onnxruntime

    x, y = _digits() if name == "digits" else _tables()[name]
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, train_size=0.5, random_state=0, stratify=y
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, train_size=0.4, random_state=0, stratify=y_rest
    )
    model: Any
    if name == "digits":
        model = LogisticRegression(max_iter=2_000, C=0.5)
    else:
        model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    model.fit(x_train, y_train)
    classes = [str(c) for c in model.classes_]
    calibration = fit_calibration(model.predict_proba(x_val), y_val, classes)
    test_accuracy = float(np.mean(model.predict(x_test) == y_test))
    importance = None if name == "digits" else _importance(model, x_test, y_test)
    reference = x_train.sample(min(REFERENCE_ROWS, len(x_train)), random_state=0)
    detector = DriftDetector(reference, contract_of(list(x.columns)), DriftOptions(0.5))
    return Fitted(
        name,
        x_test.reset_index(drop=True),
        np.asarray(y_test),
        model.predict_proba,
        calibration,
        test_accuracy,
        importance,
        detector,
    )


def subpopulation(condition: Callable[[pd.DataFrame], pd.Series]) -> Callable[[Fitted], Any]:
    def shift(fit: Fitted) -> tuple[pd.DataFrame, np.ndarray]:
        keep = condition(fit.features).to_numpy()
        return fit.features[keep].reset_index(drop=True), fit.labels[keep]

    return shift


def images(change: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> Any:
    def shift(fit: Fitted) -> tuple[pd.DataFrame, np.ndarray]:
        pixels = change(fit.features.to_numpy(), np.random.default_rng(7)).clip(0.0, 1.0)
        return pd.DataFrame(pixels, columns=fit.features.columns), fit.labels

    return shift


def noise(sd: float) -> Any:
    return images(lambda px, rng: px + rng.normal(0.0, sd, px.shape))


def rotation(degrees: float) -> Any:
    from scipy import ndimage  # lazy: only the rotation scenarios need it

    def rotate(px: np.ndarray, _: np.random.Generator) -> np.ndarray:
        return np.stack(
            [ndimage.rotate(p.reshape(8, 8), degrees, reshape=False, order=1).ravel() for p in px]
        )

    return images(rotate)


def contrast(factor: float) -> Any:
    return images(lambda px, _: px * factor)


def scenarios() -> tuple[list[Scenario], list[Scenario]]:
    """(tuning, held out). Each set holds every dataset, so a threshold relative to a
    model's test accuracy is chosen on more than one model's calibration; each has benign
    and harmful shifts (their kind is measured, not assumed)."""
    tuning = [
        Scenario(
            "fair: married 16.5+ years", "fair", subpopulation(lambda f: f.yrs_married >= 16.5)
        ),
        Scenario(
            "hie: a chronic disease count of 16+", "hie", subpopulation(lambda f: f.disea >= 16)
        ),
        Scenario("digits: pixel noise sd 0.25", "digits", noise(0.25)),
        Scenario("digits: pixel noise sd 0.05", "digits", noise(0.05)),
    ]
    held_out = [
        Scenario("hie: individual deductible plan", "hie", subpopulation(lambda f: f.idp > 0)),
        Scenario(
            "hie: income in the top third",
            "hie",
            subpopulation(lambda f: f.lpi >= f.lpi.quantile(2 / 3)),
        ),
        Scenario("fair: 16+ years of education", "fair", subpopulation(lambda f: f.educ >= 16)),
        Scenario("digits: rotated 10 degrees", "digits", rotation(10.0)),
        Scenario("digits: contrast x0.9", "digits", contrast(0.9)),
    ]
    return tuning, held_out


def true_drop(scenario: Scenario) -> float:
    """Test accuracy minus the accuracy on the whole shifted population (points / 100)."""
    fit = fitted(scenario.dataset)
    rows, labels = scenario.shift(fit)
    accuracy = float(np.mean(fit.predict_proba(rows).argmax(axis=1) == labels))
    return fit.test_accuracy - accuracy


def check(fit: Fitted, rows: pd.DataFrame, labels: np.ndarray, shifted: bool) -> Window:
    """One window through every rule's inputs."""
    raw = fit.predict_proba(rows)
    (found,) = estimate(raw, fit.calibration, ("accuracy",))
    calibrated = fit.calibration.apply(raw)
    c = calibrated[np.arange(len(raw)), raw.argmax(axis=1)]
    with warnings.catch_warnings():  # chi-square on pixels never lit in the reference
        warnings.simplefilter("ignore", RuntimeWarning)
        drift = fit.detector.run(rows)
    weighted = None if fit.importance is None else fit.importance.weighted_share(drift.features)
    return Window(
        shifted=shifted,
        realized=float(np.mean(raw.argmax(axis=1) == labels)),
        estimated=found.value,
        sampling_sd=float(np.sqrt(np.sum(c * (1.0 - c)))) / len(raw),
        dataset_drift=drift.dataset_drift,
        weighted=weighted,
    )


@cache
def calm_windows(dataset: str, seed: int, calm: int, window: int) -> tuple[Window, ...]:
    """The same-population windows of stream ``seed`` (shared by the dataset's scenarios)."""
    fit = fitted(dataset)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(calm):
        pick = rng.choice(len(fit.features), size=window, replace=window > len(fit.features))
        out.append(check(fit, fit.features.iloc[pick], fit.labels[pick], shifted=False))
    return tuple(out)


def stream(
    scenario: Scenario, seed: int, calm: int = 10, shifted: int = 5, window: int = 500
) -> list[Window]:
    """``calm`` same-population windows, then ``shifted`` from the scenario's population."""
    fit = fitted(scenario.dataset)
    rows, labels = scenario.shift(fit)
    rng = np.random.default_rng(1_000 + seed)
    out = list(calm_windows(scenario.dataset, seed, calm, window))
    for _ in range(shifted):
        pick = rng.choice(len(rows), size=window, replace=window > len(rows))
        out.append(check(fit, rows.iloc[pick], labels[pick], shifted=True))
    return out
