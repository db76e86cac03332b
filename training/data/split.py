"""Clean the rows and split them into train, validation and test (no torch here).

Example::

    dataset, cleaned = clean(dataset, settings.data)   # data.drop_duplicates
    splits = split(dataset, settings.data)     # stratified train / validation / test
    splits.train.frame.shape                   # (4456, 8)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from training.data.dataset import Dataset, Part, Splits
from training.settings import DataSettings
from trainsmart.errors import TrainingError


def split(dataset: Dataset, data: DataSettings) -> Splits:
    """Stratified train / validation / test split with the fractions and seed of ``data``
    (regression targets are stratified by their quintile)."""
    from sklearn.model_selection import train_test_split  # lazy: scikit-learn (~0.6 s)

    index = np.arange(len(dataset))
    labels = strata(dataset.target) if dataset.regression else dataset.target.to_numpy()
    test_share = 1.0 - data.train_fraction - data.validation_fraction
    try:
        rest, test = train_test_split(
            index, test_size=test_share, stratify=labels, random_state=data.seed
        )
        val_share = data.validation_fraction / (data.train_fraction + data.validation_fraction)
        train, validation = train_test_split(
            rest, test_size=val_share, stratify=labels[rest], random_state=data.seed
        )
    except ValueError as exc:
        raise TrainingError(
            f"cannot split {len(dataset)} rows into stratified train/validation/test ({exc}); "
            "add rows (each class needs a few in every split) or change the fractions"
        ) from exc

    def part(rows: np.ndarray) -> Part:
        # keeps the dataset's row labels, so that leakage between splits can be checked
        return Part(dataset.frame.iloc[rows], dataset.target.iloc[rows])

    return Splits(part(train), part(validation), part(test))


def strata(values: pd.Series, bins: int = 5) -> np.ndarray:
    """Quantile bin of each regression target, so that every split spans the whole range."""
    ranks = pd.Series(values).rank(method="first").to_numpy()
    return np.minimum((ranks - 1) * bins // max(len(ranks), 1), bins - 1).astype(np.int64)


def drop_duplicates(dataset: Dataset) -> tuple[Dataset, int]:
    """``dataset`` without exact duplicate rows (features and target), and how many went.

    The first occurrence of each row is kept, in the original order; the row labels are
    renumbered from 0. Missing values count as equal to each other.
    """
    table = dataset.frame.copy()
    table["__target__"] = dataset.target.to_numpy()
    keep = ~table.duplicated(keep="first").to_numpy()
    dropped = int(len(keep) - keep.sum())
    if dropped == 0:
        return dataset, 0
    frame = dataset.frame.iloc[np.flatnonzero(keep)].reset_index(drop=True)
    target = dataset.target.iloc[np.flatnonzero(keep)].reset_index(drop=True)
    return replace(dataset, frame=frame, target=target), dropped


def clean(dataset: Dataset, data: DataSettings) -> tuple[Dataset, dict[str, int]]:
    """The cleaning steps of ``data`` that run before the split, and their row counts
    (for the lineage rows; empty when no step is switched on)."""
    if not data.drop_duplicates:
        return dataset, {}
    dataset, dropped = drop_duplicates(dataset)
    return dataset, {"duplicates_dropped": dropped}
