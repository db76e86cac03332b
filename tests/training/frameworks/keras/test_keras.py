"""Model tests of the Keras path (training.framework: keras): train, export, parity, serve.

One Keras model is trained on the Fair data and registered once per module; the tests
read it. Skipped when TensorFlow is not installed (the optional 'keras' extra).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from serving.runtime import load_model
from serving.settings import ServingSettings
from tests.services import require_module
from tests.training.conftest import Env, make_settings, open_env
from training.data import Dataset
from training.metrics import classification_metrics
from training.onnx_parity import check_parity, onnx_predict
from training.pipeline import TrainOutcome, train_and_register
from training.preprocess import Preprocessor
from training.train import train_model
from trainsmart.registry.contract import UNKNOWN_CODE

TOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def tensorflow() -> None:
    """training.framework 'keras' needs TensorFlow + Keras 3 (the optional 'keras' extra)."""
    require_module("tensorflow", pip="pip install -e '.[keras]'")


@pytest.fixture(scope="module")
def keras_env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return open_env(make_settings(tmp_path_factory.mktemp("keras"), framework="keras"))


@pytest.fixture(scope="module")
def keras_run(keras_env: Env, fair: Dataset) -> TrainOutcome:
    return train_and_register(keras_env.scope, keras_env.registry, dataset=fair, progress=False)


def hard_rows(outcome: TrainOutcome) -> np.ndarray:
    """Three test rows: as they are, with NaNs, and with unknown category codes."""
    trained = outcome.trained
    rows = trained.encode(trained.splits.test.frame)[:3].copy()
    rows[1, 0] = np.nan  # a numeric value missing
    rows[1, -1] = np.nan  # a categorical value missing
    codes = [j for j, f in enumerate(trained.contract.features) if f.kind == "categorical"]
    rows[2, codes[0]] = UNKNOWN_CODE  # unknown string code
    rows[2, codes[1]] = 99.0  # a numeric code never seen in training
    return rows


def test_keras_bundle_verifies_with_keras_lineage(keras_run: TrainOutcome, keras_env: Env) -> None:
    bundle = keras_run.bundle
    bundle.verify()
    assert bundle.lineage().framework == "keras"
    assert bundle.lineage().hyperparameters["framework"] == "keras"
    metrics = bundle.metrics()
    assert {"keras", "fp32", "serving", "validation"} <= metrics.keys()
    assert "torch" not in metrics
    assert metrics["keras"]["accuracy"] > 0.6
    assert abs(metrics["keras"]["accuracy"] - metrics["fp32"]["accuracy"]) <= 1e-3
    graph = onnx.load(str(bundle.path / "variants" / "fp32.onnx")).graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["probabilities"]
    batch, width = graph.input[0].type.tensor_type.shape.dim
    assert batch.dim_param and width.dim_value == len(bundle.contract().features)
    report = bundle.report_path.read_text()
    assert "| keras |" in report
    assert (bundle.path / "report" / "curves.png").is_file()


def test_keras_onnx_parity_at_batch_1_and_3(keras_run: TrainOutcome) -> None:
    trained = keras_run.trained
    rows = hard_rows(keras_run)
    fp32 = keras_run.bundle.path / "variants" / "fp32.onnx"
    for batch in (rows[:1], rows):
        expected = trained.predict_proba(batch)
        got = onnx_predict(fp32, batch)
        assert got.shape == (len(batch), 2)
        np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert check_parity(trained.predict_proba, fp32, rows, TOL, framework="Keras") <= TOL
    # an unknown code lands in the unknown bucket: -1 and 99 mean the same thing
    twin = rows[2:3].copy()
    codes = [j for j, f in enumerate(trained.contract.features) if f.kind == "categorical"]
    twin[0, codes[0]], twin[0, codes[1]] = 42.0, UNKNOWN_CODE
    np.testing.assert_allclose(onnx_predict(fp32, twin), onnx_predict(fp32, rows[2:3]), atol=1e-7)


def test_registered_keras_bundle_serves_through_the_runtime(
    keras_run: TrainOutcome, keras_env: Env
) -> None:
    bundle = keras_run.bundle
    loaded = load_model(keras_env.registry, bundle.name, bundle.version, ServingSettings())
    rows = hard_rows(keras_run)
    served = loaded.predict_proba(rows)
    np.testing.assert_allclose(served, onnx_predict(bundle.model_path, rows), atol=1e-6)
    expected = keras_run.trained.predict_proba(rows)
    if keras_run.serving_variant == "fp32":
        np.testing.assert_allclose(served, expected, atol=TOL, rtol=0)
    else:  # int8 weights: close, not equal
        np.testing.assert_allclose(served, expected, atol=0.05, rtol=0)
    assert loaded.contract == keras_run.trained.contract


def test_keras_rerun_with_the_same_seed_is_identical(
    keras_run: TrainOutcome, keras_env: Env, fair: Dataset
) -> None:
    again = train_model(keras_env.scope, dataset=fair, progress=False)
    first = keras_run.trained
    assert [(e.train_loss, e.val_loss) for e in again.fit.history] == [
        (e.train_loss, e.val_loss) for e in first.fit.history
    ]
    x_test = first.encode(first.splits.test.frame)
    np.testing.assert_array_equal(again.predict_proba(x_test), first.predict_proba(x_test))
    y_test = first.splits.test.target.tolist()
    classes = first.contract.classes
    assert (
        classification_metrics(y_test, again.predict_proba(x_test), classes)
        == (keras_run.metrics["keras"])
    )


def test_keras_preprocessing_is_fitted_on_the_training_split_only(
    keras_run: TrainOutcome,
) -> None:
    trained = keras_run.trained
    contract = trained.contract
    stats = Preprocessor.fit(trained.encode(trained.train.frame), contract).statistics()
    every_row = trained.encode(trained.dataset.frame)
    leaked = Preprocessor.fit(every_row, contract).statistics()
    assert stats["mean"] != leaked["mean"]  # the check below can tell them apart

    pre = trained.model.get_layer("preprocess")
    numeric = [j for j, f in enumerate(contract.features) if f.kind == "numeric"]
    n = len(numeric)
    blank = np.full((1, len(contract.features)), np.nan, dtype=np.float32)
    at_mean = blank.copy()
    at_mean[0, numeric] = stats["mean"]
    out = np.asarray(pre(np.vstack([blank, at_mean]), training=False))
    median, mean, std = (np.array(stats[k]) for k in ("median", "mean", "std"))
    np.testing.assert_allclose(out[0, :n], (median - mean) / std, atol=1e-5)
    np.testing.assert_allclose(out[1, :n], 0.0, atol=1e-5)
    wrong = (np.array(leaked["median"]) - np.array(leaked["mean"])) / np.array(leaked["std"])
    assert not np.allclose(out[0, :n], wrong, atol=1e-5)
