"""Model tests of the PyTorch path (the default framework): ONNX parity, deterministic
reruns, the registered bundle."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from tests.training.conftest import REFERENCE_SIZE, make_settings
from training.data import Dataset
from training.frameworks import get_framework
from training.frameworks.pytorch.export import export_onnx
from training.metrics import classification_metrics
from training.onnx_parity import check_parity, onnx_predict
from training.pipeline import TrainOutcome
from training.train import train_model
from trainsmart.errors import TrainingError


def torch_predict(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``model``'s outputs in inference mode, as the parity check takes them."""
    return functools.partial(get_framework("torch").predict, model)


def test_onnx_parity_at_batch_1_and_3(champion: TrainOutcome, tmp_path: Path) -> None:
    trained = champion.trained
    path = export_onnx(champion.model, len(trained.contract.features), tmp_path / "m.onnx")
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 8
    x = trained.encode(trained.splits.test.frame.iloc[:5])
    x[2, 0] = np.nan  # imputation inside the graph
    x[1, 6] = 99.0  # unknown occupation code
    for rows in (x[:1], x[:3], x):
        with torch.no_grad():
            expected = champion.model(torch.from_numpy(rows)).numpy()
        got = onnx_predict(path, rows)
        assert got.shape == (len(rows), 2)
        assert np.max(np.abs(got - expected)) <= 1e-4
    assert check_parity(torch_predict(champion.model), path, x, 1e-4, framework="PyTorch") <= 1e-4


def test_parity_failure_raises(champion: TrainOutcome, tmp_path: Path) -> None:
    trained = champion.trained
    path = Path(champion.bundle.path / "variants" / "fp32.onnx")
    scope = make_settings(tmp_path, seed=7, max_epochs=1).training_scope()
    other = train_model(scope, dataset=trained.dataset, progress=False)
    x = trained.encode(trained.splits.test.frame.iloc[:3])
    with pytest.raises(TrainingError, match="differ by"):
        check_parity(torch_predict(other.model), path, x, 1e-6, framework="PyTorch")


def test_same_seed_gives_identical_metrics(fair: Dataset, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_epochs=3).training_scope()

    def run() -> dict[str, float]:
        trained = train_model(settings, dataset=fair, progress=False)
        x = torch.from_numpy(trained.encode(trained.splits.test.frame))
        proba = trained.model.predict_proba(x).numpy()
        result = classification_metrics(trained.splits.test.target.tolist(), proba, fair.classes)
        result["val_loss"] = trained.fit.best_val_loss
        return result

    assert run() == run()


def test_registered_bundle(champion: TrainOutcome) -> None:
    bundle = champion.bundle
    bundle.verify()
    contract = bundle.contract()
    assert contract.feature_names == list(champion.trained.dataset.feature_names)
    assert len(contract.features) == 8
    assert contract.classes == ["0", "1"]
    occupation = contract.features[6]
    assert occupation.kind == "categorical" and occupation.categories == [1, 2, 3, 4, 5, 6]
    assert contract.features[1].min is not None and contract.features[1].max is not None
    metrics = bundle.metrics()
    for variant in ("torch", "fp32", "serving"):
        assert 0.5 < metrics[variant]["accuracy"] <= 1.0
    assert metrics["validation"]["best_epoch"] >= 1
    table = {row["name"]: row for row in metrics["variants"]["table"]}
    assert {"fp32", "int8_dynamic", "int8_static_minmax", "pruned_fp32"} <= table.keys()
    assert metrics["variants"]["selection"]["chosen"] == champion.serving_variant
    # only the reference and the served model are registered; rejected variants are not
    assert [p.name for p in (bundle.path / "variants").iterdir()] == ["fp32.onnx"]
    lineage = bundle.lineage()
    assert lineage.serving_variant == champion.serving_variant
    assert lineage.rows == {"train": 4456, "validation": 955, "test": 955}
    assert lineage.hyperparameters["hidden_sizes"] == [16]
    assert lineage.code_version.startswith("trainsmart ")
    assert lineage.dataset_fingerprint == champion.trained.dataset.fingerprint()
    reference = bundle.reference()
    assert len(reference) <= REFERENCE_SIZE
    assert list(reference.columns) == contract.feature_names
    train_index = set(champion.trained.splits.train.frame.index)
    assert len(train_index) > len(reference)
    # served model answers like the torch model up to quantization error
    x = champion.trained.encode(champion.trained.splits.test.frame)
    served = onnx_predict(bundle.model_path, x)
    assert served.shape == (len(x), 2)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)


def test_string_categories_end_to_end(tmp_path: Path) -> None:
    """A user file with a string categorical: contract, serving encoding and ONNX agree."""
    import pandas as pd

    from training.settings import FeatureConfig
    from training.staging import stage_model
    from trainsmart.registry.contract import InputContract

    rng = np.random.default_rng(1)
    n = 300
    colour = rng.choice(["red", "green", "blue"], size=n)
    x = rng.normal(size=n)
    label = np.where((colour == "red") ^ (x > 0.5), "yes", "no")
    path = tmp_path / "rows.csv"
    pd.DataFrame({"x": x, "colour": colour, "label": label}).to_csv(path, index=False)
    settings = make_settings(
        tmp_path / "data", max_epochs=3, quantize=False, compression={"enabled": False}
    )
    settings.data = settings.data.model_copy(
        update={
            "dataset": "file",
            "path": path,
            "features": [FeatureConfig(name="x"), FeatureConfig(name="colour", kind="categorical")],
            "target": "label",
        }
    )
    scope = settings.training_scope()
    trained = train_model(scope, progress=False)
    staged = stage_model(scope, trained, tmp_path / "staging")
    assert staged.serving_variant == "fp32"
    assert [row["name"] for row in staged.metrics["variants"]["table"]] == ["fp32"]
    contract = InputContract.model_validate_json((staged.path / "contract.json").read_text())
    assert contract.features[1].categories == ["blue", "green", "red"]
    rows = [{"x": 0.1, "colour": "red"}, {"x": None, "colour": "blue"}, {"x": 2.0, "colour": None}]
    matrix = contract.to_matrix(rows)
    np.testing.assert_array_equal(matrix, trained.encode(pd.DataFrame(rows)))
    with torch.no_grad():
        expected = trained.model(torch.from_numpy(matrix)).numpy()
    np.testing.assert_allclose(onnx_predict(staged.model_path, matrix), expected, atol=1e-5)
    assert (
        pd.read_parquet(staged.path / "reference.parquet")["colour"]
        .isin(["red", "green", "blue"])
        .all()
    )
