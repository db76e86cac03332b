"""The rows a model is trained on: a :class:`Dataset`, its splits, and label helpers.

Example::

    dataset.feature_names          # ["rate_marriage", "age", ...]
    dataset.fingerprint()          # sha256 of features and target (the lineage's)
    as_task(dataset, "regression", "digits")   # numeric labels read as values
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from training.settings import FeatureConfig
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import Task


@dataclass
class Dataset:
    """Raw feature values (one column per feature, in order) and the target: string class
    labels (classification) or floats (regression, ``classes`` empty)."""

    frame: pd.DataFrame
    target: pd.Series
    features: list[FeatureConfig]
    classes: list[str]
    image_shape: list[int] | None = None
    """[channels, height, width] when the features are the pixels of images."""
    task: Task = "classification"

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def fingerprint(self) -> str:
        """sha256 of the canonical CSV of the features and the target."""
        return frame_fingerprint(self.frame, self.target)

    def __len__(self) -> int:
        return len(self.frame)


@dataclass
class Part:
    """One split: raw feature rows and their labels (same index: the dataset's row labels)."""

    frame: pd.DataFrame
    target: pd.Series

    def __len__(self) -> int:
        return len(self.frame)


@dataclass
class Splits:
    train: Part
    validation: Part
    test: Part

    def rows(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


def frame_fingerprint(frame: pd.DataFrame, target: pd.Series) -> str:
    table = frame.reset_index(drop=True).copy()
    table["__target__"] = target.reset_index(drop=True).astype(str)
    csv = table.to_csv(index=False, lineterminator="\n", float_format="%.17g")
    return hashlib.sha256(csv.encode("utf-8")).hexdigest()


def labels_to_str(values: pd.Series) -> pd.Series:
    """Class labels as strings; integral floats lose their '.0' (1.0 -> '1')."""

    def text(value: object) -> str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return values.map(text).astype(object)


def as_task(dataset: Dataset, task: Task, source: str) -> Dataset:
    """``dataset`` with its target read for ``task`` (numeric labels can be regressed)."""
    if task == "classification":
        target = labels_to_str(dataset.target).rename("target")
        classes = sorted(target.unique())
        return Dataset(dataset.frame, target, dataset.features, classes, dataset.image_shape)
    try:
        target = pd.to_numeric(dataset.target).astype("float64").rename("target")
    except (TypeError, ValueError) as exc:
        raise TrainingError(
            f"data.task is 'regression' but the {source} target is not numeric ({exc}); "
            "use task: classification"
        ) from exc
    return Dataset(dataset.frame, target, dataset.features, [], dataset.image_shape, "regression")
