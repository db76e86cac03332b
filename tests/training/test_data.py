from __future__ import annotations

import subprocess
import sys
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


def test_split_is_stratified_disjoint_and_complete(fair: Dataset) -> None:
    data = DataSettings()
    splits = split(fair, data)
    parts = [splits.train, splits.validation, splits.test]
    indices = [set(p.frame.index) for p in parts]
    assert sum(len(i) for i in indices) == len(fair)
    assert set().union(*indices) == set(range(len(fair)))
    assert not (indices[0] & indices[1] or indices[0] & indices[2] or indices[1] & indices[2])
    for part in parts:
        assert list(part.frame.index) == list(part.target.index)
    overall = (fair.target == "1").mean()
    for part in parts:
        assert abs((part.target == "1").mean() - overall) < 0.01
    assert abs(len(splits.train) / len(fair) - data.train_fraction) < 0.01
    assert split(fair, data).rows() == splits.rows()


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


def test_light_modules_do_not_import_torch() -> None:
    code = (
        "import sys, training, training.settings, training.data, training.encoding, "
        "training.metrics; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
