"""Tabular datasets: the shipped Fair and diabetes data, and a user's CSV or Parquet file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from training.data.dataset import Dataset, as_task, labels_to_str
from training.settings import DataSettings, FeatureConfig
from trainsmart.errors import TrainingError

FAIR_NUMERIC = ("rate_marriage", "age", "yrs_married", "children", "religious", "educ")
FAIR_CATEGORICAL = ("occupation", "occupation_husb")


def load_diabetes() -> Dataset:
    """sklearn's diabetes data: 442 patients, 10 numeric (centred) features, the target a
    quantitative measure of disease progression one year later (25..346)."""
    from sklearn.datasets import load_diabetes  # lazy: scikit-learn (~0.6 s)

    raw = load_diabetes(as_frame=True)
    frame = raw.data.astype("float64").reset_index(drop=True)
    features = [FeatureConfig(name=str(n), kind="numeric") for n in frame.columns]
    target = raw.target.astype("float64").reset_index(drop=True).rename("target")
    return Dataset(frame, target, features, [], task="regression")


def load_fair() -> Dataset:
    import statsmodels.api as sm  # lazy: statsmodels (~0.8 s), only for the Fair data

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


def load_table(data: DataSettings) -> Dataset:
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
