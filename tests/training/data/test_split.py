"""Cleaning and splitting: exact duplicate rows are dropped before the split
(data.drop_duplicates); the split is stratified, disjoint and complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.training.conftest import make_settings
from training.data import Dataset, clean, drop_duplicates, split
from training.settings import DataSettings, FeatureConfig
from training.train import train_model


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


def _toy() -> Dataset:
    frame = pd.DataFrame(
        {
            "x": [1.0, 1.0, 2.0, np.nan, np.nan, 1.0, 3.0],
            "colour": ["red", "red", "blue", None, None, "red", "red"],
        }
    )
    target = pd.Series(["a", "a", "b", "a", "a", "b", "a"], dtype=object)
    features = [FeatureConfig(name="x"), FeatureConfig(name="colour", kind="categorical")]
    return Dataset(frame, target, features, ["a", "b"])


def test_drop_duplicates_keeps_first_rows_and_counts_the_rest() -> None:
    deduped, dropped = drop_duplicates(_toy())
    # row 1 repeats row 0; row 4 repeats row 3 (missing values match); row 5 differs in target
    assert dropped == 2
    assert deduped.target.tolist() == ["a", "b", "a", "b", "a"]
    assert deduped.frame["x"].tolist()[:2] == [1.0, 2.0]
    assert list(deduped.frame.index) == list(range(5)) == list(deduped.target.index)
    assert drop_duplicates(deduped) == (deduped, 0)


def test_clean_is_off_by_default() -> None:
    toy = _toy()
    assert clean(toy, DataSettings()) == (toy, {})
    deduped, counts = clean(toy, DataSettings(drop_duplicates=True))
    assert counts == {"duplicates_dropped": 2} and len(deduped) == 5


def test_training_drops_duplicates_before_the_split(fair: Dataset, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_epochs=1)
    settings.data = settings.data.model_copy(update={"drop_duplicates": True})
    trained = train_model(settings.training_scope(), dataset=fair, progress=False)
    table = fair.frame.assign(target=fair.target)
    expected = int(table.duplicated().sum())
    assert expected > 0  # the Fair data holds repeated rows
    assert trained.rows["duplicates_dropped"] == expected
    split_rows = trained.rows["train"] + trained.rows["validation"] + trained.rows["test"]
    assert split_rows == len(fair) - expected
    # no row (features and target) of the test split also sits in the training split
    keys = ["train", "test"]
    rows = {
        k: set(
            getattr(trained.splits, k)
            .frame.assign(target=getattr(trained.splits, k).target)
            .itertuples(index=False, name=None)
        )
        for k in keys
    }
    assert not rows["train"] & rows["test"]
    assert trained.dataset.fingerprint() != fair.fingerprint()
