from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from training.data import Dataset, split
from training.encoding import UNKNOWN_CODE, build_contract, encode_frame, frame_from_rows
from training.preprocess import Preprocessor
from training.settings import DataSettings, FeatureConfig


def test_statistics_come_from_the_training_split_only(fair: Dataset) -> None:
    splits = split(fair, DataSettings())
    train = splits.train.frame
    contract = build_contract(train, fair.features, fair.classes)
    pre = Preprocessor.fit(encode_frame(train, contract), contract)
    stats = pre.statistics()
    numeric = [f.name for f in fair.features if f.kind == "numeric"]
    np.testing.assert_allclose(stats["median"], train[numeric].median().to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(stats["mean"], train[numeric].mean().to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(stats["std"], train[numeric].std(ddof=0).to_numpy(), rtol=1e-5)
    everything = fair.frame[numeric].mean().to_numpy()
    assert not np.allclose(stats["mean"], everything, rtol=1e-7, atol=0)
    assert stats["mode"] == [float(train[c].mode()[0]) for c in ("occupation", "occupation_husb")]
    # categories come from the training rows: a code seen only outside them is unknown
    assert contract.features[6].categories == sorted(train["occupation"].unique().astype(int))


def test_unknown_category_goes_to_the_unknown_bucket() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan], "code": [1.0, 2.0, 2.0, 2.0]})
    features = [FeatureConfig(name="x"), FeatureConfig(name="code", kind="categorical")]
    contract = build_contract(frame, features, ["0", "1"])
    pre = Preprocessor.fit(encode_frame(frame, contract), contract)
    rows = torch.tensor([[2.0, 1.0], [2.0, 9.0], [np.nan, np.nan]], dtype=torch.float32)
    out = pre(rows).numpy()
    # columns: scaled x, one-hot code 1, one-hot code 2, unknown
    np.testing.assert_array_equal(out[:, 1:], [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert out[2, 0] == out[0, 0]  # NaN -> median 2.0


def test_string_categories_are_encoded_like_serving() -> None:
    frame = pd.DataFrame({"colour": ["red", "blue", None, "red"]}, dtype=object)
    features = [FeatureConfig(name="colour", kind="categorical")]
    contract = build_contract(frame, features, ["a", "b"])
    assert contract.features[0].categories == ["blue", "red"]
    rows = [{"colour": "red"}, {"colour": "blue"}, {"colour": None}]
    np.testing.assert_array_equal(
        encode_frame(pd.DataFrame(rows), contract), contract.to_matrix(rows)
    )
    unseen = encode_frame(pd.DataFrame({"colour": ["green"]}), contract)
    assert unseen[0, 0] == UNKNOWN_CODE
    pre = Preprocessor.fit(encode_frame(frame, contract), contract)
    np.testing.assert_array_equal(pre(torch.from_numpy(unseen)).numpy(), [[0, 0, 1]])
    # a logged index is read back as the string it stands for
    back = frame_from_rows([{"colour": 1}, {"colour": None}], contract)
    assert back["colour"].tolist() == ["red", None]
