"""Stratified k-fold cross-validation of the training recipe (model, loop, preprocessing).

The test split of :func:`training.data.split` stays out of it: the folds are cut
from the training and validation rows together. For each fold the input contract
and the in-graph preprocessing are fitted on that fold's training rows only; a
validation slice carved from those rows drives early stopping; the held-out fold
is scored with :func:`training.metrics.evaluate` (classification or regression metrics;
regression folds are stratified by target quintile).

Example::

    result = cross_validate(settings.training_scope(), k=5)
    result.summary()["accuracy"]       # {"mean": 0.72, "std": 0.01}
    result.to_metrics()                # {"accuracy_mean": ..., "accuracy_std": ..., "folds": 5.0}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.data import Dataset, clean, load_dataset, split, strata
from training.encoding import encode_frame
from training.frameworks import get_framework
from training.metrics import evaluate
from training.preprocess import Preprocessor
from training.settings import TrainingScope
from training.train import dataset_contract, encode_target
from trainsmart.errors import TrainingError

SUMMARY_SKIP = ("rows",)
"""Metrics of a fold that are counts rather than scores (left out of the summary)."""


@dataclass
class Fold:
    """One fold: its rows (the dataset's row labels), what training made of them, its scores."""

    number: int
    train_index: list[int]
    validation_index: list[int]
    test_index: list[int]
    metrics: dict[str, float]
    best_epoch: int
    statistics: dict[str, list[float]] = field(default_factory=dict)
    """The fold's fitted preprocessing statistics (median, mean, std, mode)."""
    fitted: Any = None
    """``keep_models=True``: (FitResult, InputContract) of the fold (training.ensemble)."""


@dataclass
class CVResult:
    """The folds of a cross-validation run, in order."""

    folds: list[Fold]

    @property
    def k(self) -> int:
        return len(self.folds)

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and sample standard deviation (ddof 1) of each metric over the folds.

        A metric missing from some fold (roc_auc when a fold holds one class) is summarised
        over the folds that have it.
        """
        names = [m for m in self.folds[0].metrics if m not in SUMMARY_SKIP] if self.folds else []
        out: dict[str, dict[str, float]] = {}
        for name in names:
            values = np.array([f.metrics[name] for f in self.folds if name in f.metrics])
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            out[name] = {"mean": float(values.mean()), "std": std}
        return out

    def to_metrics(self) -> dict[str, float]:
        """The summary flattened for metrics.json: ``{metric}_mean``, ``{metric}_std``, folds."""
        flat = {
            f"{name}_{stat}": value
            for name, stats in self.summary().items()
            for stat, value in stats.items()
        }
        flat["folds"] = float(self.k)
        return flat


def cross_validate(
    settings: TrainingScope,
    k: int,
    *,
    dataset: Dataset | None = None,
    progress: bool = False,
    keep_models: bool = False,
) -> CVResult:
    """Train and score the configured model on ``k`` stratified folds (seed: data.seed);
    ``keep_models`` keeps each fold's fit and contract (``Fold.fitted``, for an ensemble)."""
    # lazy: scikit-learn takes ~0.6 s to import
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if k < 2:
        raise TrainingError(f"cross-validation needs at least 2 folds, got {k}; use --cv 2 or more")
    data, framework = settings.data, get_framework(settings.training.framework)
    dataset = dataset if dataset is not None else load_dataset(data)
    dataset, _ = clean(dataset, data)
    splits = split(dataset, data)
    frame = pd.concat([splits.train.frame, splits.validation.frame])
    target = pd.concat([splits.train.target, splits.validation.target])
    labels = strata(target) if dataset.regression else target.to_numpy()
    smallest = int(pd.Series(labels).value_counts().min())
    if smallest < k:
        raise TrainingError(
            f"the smallest class (or target quintile) has {smallest} rows outside the test "
            f"split, fewer than the {k} folds; lower the fold count or add rows"
        )
    val_share = data.validation_fraction / (data.train_fraction + data.validation_fraction)
    folds: list[Fold] = []
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=data.seed)
    for number, (fit_rows, test_rows) in enumerate(splitter.split(frame, labels), start=1):
        try:
            train_rows, val_rows = train_test_split(
                fit_rows, test_size=val_share, stratify=labels[fit_rows], random_state=data.seed
            )
        except ValueError as exc:
            raise TrainingError(
                f"fold {number}: cannot carve a stratified validation slice from "
                f"{len(fit_rows)} rows ({exc}); add rows or lower the fold count"
            ) from exc
        train = frame.iloc[train_rows]
        contract = dataset_contract(train, dataset, data.allow_missing)
        x_train = encode_frame(train, contract)
        preprocessor = Preprocessor.fit(x_train, contract)
        result = framework.fit(
            x_train,
            encode_target(target.iloc[train_rows], dataset),
            encode_frame(frame.iloc[val_rows], contract),
            encode_target(target.iloc[val_rows], dataset),
            preprocessor,
            contract,
            settings.training,
            progress=progress,
        )
        proba = framework.predict(result.model, encode_frame(frame.iloc[test_rows], contract))
        folds.append(
            Fold(
                number=number,
                train_index=[int(i) for i in frame.index[train_rows]],
                validation_index=[int(i) for i in frame.index[val_rows]],
                test_index=[int(i) for i in frame.index[test_rows]],
                metrics=evaluate(contract, target.iloc[test_rows].tolist(), proba),
                best_epoch=result.best_epoch,
                statistics=preprocessor.statistics(),
                fitted=(result, contract) if keep_models else None,
            )
        )
    return CVResult(folds)
