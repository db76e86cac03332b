"""Load the training rows and split them (no torch here).

Example::

    dataset = load_dataset(settings.data)      # the Fair affairs data by default
    splits = split(dataset, settings.data)     # stratified train / validation / test
    splits.train.frame.shape                   # (4456, 8)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from training.settings import DataSettings, FeatureConfig
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import Task

FAIR_NUMERIC = ("rate_marriage", "age", "yrs_married", "children", "religious", "educ")
FAIR_CATEGORICAL = ("occupation", "occupation_husb")


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


def load_dataset(data: DataSettings) -> Dataset:
    """Read the rows named by ``data``: a shipped dataset, a user table or user images."""
    from training import images

    if data.dataset == "fair":
        dataset = _load_fair()
    elif data.dataset == "digits":
        dataset = images.load_digits_dataset()
    elif data.dataset == "diabetes":
        dataset = _load_diabetes()
    elif data.dataset == "images":
        path = Path(data.path or ".")
        dataset = (
            images.load_npz(path)
            if path.suffix.lower() == ".npz"
            else images.load_image_folder(path, data.image_size, data.image_channels)
        )
    else:
        return _load_file(data)
    task = data.resolved_task()
    if task != dataset.task:
        return as_task(dataset, task, data.dataset)
    return dataset


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


def _load_diabetes() -> Dataset:
    """sklearn's diabetes data: 442 patients, 10 numeric (centred) features, the target a
    quantitative measure of disease progression one year later (25..346)."""
    from sklearn.datasets import load_diabetes

    raw = load_diabetes(as_frame=True)
    frame = raw.data.astype("float64").reset_index(drop=True)
    features = [FeatureConfig(name=str(n), kind="numeric") for n in frame.columns]
    target = raw.target.astype("float64").reset_index(drop=True).rename("target")
    return Dataset(frame, target, features, [], task="regression")


def _load_fair() -> Dataset:
    import statsmodels.api as sm

    raw = sm.datasets.fair.load_pandas().data
    features = [FeatureConfig(name=n, kind="numeric") for n in FAIR_NUMERIC] + [
        FeatureConfig(name=n, kind="categorical") for n in FAIR_CATEGORICAL
    ]
    frame = raw[[f.name for f in features]].astype("float64").reset_index(drop=True)
    target = pd.Series(
        (raw["affairs"] > 0).map({True: "1", False: "0"}).to_numpy(), dtype=object, name="target"
    )
    return Dataset(frame, target, features, sorted(target.unique()))


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise TrainingError(
            f"data file {path} does not exist; set data.path to a CSV or Parquet file"
        )
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many kinds of parse errors
        raise TrainingError(f"could not read data file {path}: {exc}") from exc
    raise TrainingError(f"data file {path} has suffix '{suffix}'; use a .csv or .parquet file")


def _load_file(data: DataSettings) -> Dataset:
    if data.path is None or data.target is None or not data.features:
        raise TrainingError("data.dataset 'file' needs data.path, data.features and data.target")
    raw = _read_table(Path(data.path))
    wanted = [f.name for f in data.features] + [data.target]
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise TrainingError(
            f"data file {data.path} lacks columns {missing}; it has {list(raw.columns)}"
        )
    raw = raw[raw[data.target].notna()].reset_index(drop=True)
    columns: dict[str, pd.Series] = {}
    for feature in data.features:
        column = raw[feature.name]
        if feature.kind == "numeric" or pd.api.types.is_numeric_dtype(column):
            try:
                columns[feature.name] = pd.to_numeric(column).astype("float64")
            except (TypeError, ValueError) as exc:
                raise TrainingError(
                    f"numeric feature '{feature.name}' in {data.path} holds non-numbers ({exc});"
                    " declare it kind: categorical or clean the column"
                ) from exc
        else:  # string categories stay strings; missing values become None
            columns[feature.name] = column.map(lambda v: None if pd.isna(v) else str(v)).astype(
                object
            )
    frame = pd.DataFrame(columns)
    if data.resolved_task() == "regression":
        dataset = Dataset(frame, raw[data.target], list(data.features), [], task="regression")
        return as_task(dataset, "regression", f"file {data.path}")
    target = labels_to_str(raw[data.target]).rename("target")
    classes = sorted(target.unique())
    if len(classes) < 2:
        raise TrainingError(
            f"target column '{data.target}' has {len(classes)} distinct value(s); "
            "a classifier needs at least 2"
        )
    return Dataset(frame, target, list(data.features), classes)


def split(dataset: Dataset, data: DataSettings) -> Splits:
    """Stratified train / validation / test split with the fractions and seed of ``data``
    (regression targets are stratified by their quintile)."""
    from sklearn.model_selection import train_test_split

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
