"""Loading the configured rows: the shipped Fair data and a user's CSV or Parquet file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.data import Dataset, load_dataset, split
from training.settings import DataSettings, FeatureConfig
from trainsmart.errors import TrainingError


def test_fair_loads(fair: Dataset) -> None:
    assert len(fair) >= 5000
    assert fair.feature_names == [
        "rate_marriage",
        "age",
        "yrs_married",
        "children",
        "religious",
        "educ",
        "occupation",
        "occupation_husb",
    ]
    assert list(fair.frame.columns) == fair.feature_names
    assert fair.classes == ["0", "1"]
    assert set(fair.target) == {"0", "1"}
    assert len(fair.fingerprint()) == 64
    assert fair.fingerprint() == load_dataset(DataSettings()).fingerprint()


def _user_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n).astype(object),
            "code": rng.integers(1, 4, size=n),
            "label": rng.choice(["yes", "no"], size=n),
        }
    )


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_user_file_loads(tmp_path: Path, suffix: str) -> None:
    raw = _user_frame()
    raw.loc[3, "colour"] = None
    raw.loc[4, "x"] = np.nan
    path = tmp_path / f"rows.{suffix}"
    raw.to_csv(path, index=False) if suffix == "csv" else raw.to_parquet(path)
    data = DataSettings(
        dataset="file",
        path=path,
        features=[
            FeatureConfig(name="x"),
            FeatureConfig(name="colour", kind="categorical"),
            FeatureConfig(name="code", kind="categorical"),
        ],
        target="label",
    )
    dataset = load_dataset(data)
    assert len(dataset) == len(raw)
    assert dataset.classes == ["no", "yes"]
    assert dataset.frame["colour"].iloc[0] in {"red", "green", "blue"}
    assert dataset.frame["colour"].iloc[3] is None
    assert np.isnan(dataset.frame["x"].iloc[4])
    assert dataset.frame["code"].dtype == np.float64
    splits = split(dataset, data)
    assert sum(splits.rows().values()) == len(raw)


def test_missing_column_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    _user_frame().to_csv(path, index=False)
    data = DataSettings(
        dataset="file", path=path, features=[FeatureConfig(name="nope")], target="label"
    )
    with pytest.raises(TrainingError, match="lacks columns \\['nope'\\]"):
        load_dataset(data)
