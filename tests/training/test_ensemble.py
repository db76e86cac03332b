"""``trainsmart train --cv K --ensemble``: the K fold networks as one ONNX model that
averages their outputs, parity-checked and registered like any version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from apps.cli.main import cli
from tests.training.conftest import make_settings, open_env, subsample
from training.cv import CVResult
from training.data import Dataset
from training.encoding import build_contract, encode_frame
from training.ensemble import Ensemble, build_ensemble, check_categories, register_ensemble
from training.frameworks.pytorch.export import export_onnx
from training.frameworks.pytorch.models import MLP, Network
from training.onnx_parity import onnx_predict
from training.pipeline import TrainOutcome
from training.preprocess import Preprocessor
from training.settings import FeatureConfig
from training.train import TrainedModel
from trainsmart.errors import TrainingError

K = 3


@pytest.fixture(scope="module")
def ensemble(
    tmp_path_factory: pytest.TempPathFactory, fair: Dataset
) -> tuple[CVResult, TrainedModel, TrainOutcome]:
    """A 3-fold ensemble of the fast Fair MLP on 1,500 rows, registered."""
    env = open_env(make_settings(tmp_path_factory.mktemp("ensemble")))
    dataset = subsample(fair, 1500)
    cv, trained = build_ensemble(env.scope, K, dataset=dataset)
    outcome = register_ensemble(env.scope, env.registry, K, result=(cv, trained))
    env.db.close()
    return cv, trained, outcome


def _members(cv: CVResult) -> list[Network]:
    return [fold.fitted[0].model for fold in cv.folds]


def test_output_is_the_average_of_the_fold_models(
    ensemble: tuple[CVResult, TrainedModel, TrainOutcome],
) -> None:
    cv, trained, _ = ensemble
    rows = torch.from_numpy(trained.encode(trained.splits.test.frame))
    each = [member.predict_proba(rows).numpy() for member in _members(cv)]
    assert len(each) == K
    averaged = trained.predict_proba(rows.numpy())
    np.testing.assert_allclose(averaged, np.mean(each, axis=0), rtol=0, atol=1e-7)
    np.testing.assert_allclose(averaged.sum(axis=1), 1.0, atol=1e-6)
    # the folds really differ: averaging is not a no-op
    assert float(np.max(np.abs(each[0] - each[1]))) > 1e-4


def test_onnx_matches_the_average_and_keeps_a_single_models_contract(
    ensemble: tuple[CVResult, TrainedModel, TrainOutcome],
) -> None:
    cv, trained, outcome = ensemble
    bundle = outcome.bundle
    contract = bundle.contract()
    x = trained.encode(trained.splits.test.frame)
    expected = np.mean([m.predict_proba(torch.from_numpy(x)).numpy() for m in _members(cv)], 0)
    fp32 = bundle.path / "variants" / "fp32.onnx"
    got = onnx_predict(fp32, x)
    assert got.shape == (len(x), len(contract.classes))
    np.testing.assert_allclose(got, expected, atol=1e-4)  # training.parity_tolerance
    graph = onnx.load(str(bundle.model_path)).graph
    assert [o.name for o in graph.output] == [contract.output_name] == ["probabilities"]
    assert [i.name for i in graph.input] == [contract.input_name]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    served = onnx_predict(bundle.model_path, x)
    assert float(np.mean(served.argmax(1) == expected.argmax(1))) >= 0.95


def test_registered_with_lineage_and_metrics_of_k_folds(
    ensemble: tuple[CVResult, TrainedModel, TrainOutcome],
) -> None:
    cv, _, outcome = ensemble
    bundle = outcome.bundle
    bundle.verify()
    lineage = bundle.lineage()
    assert lineage.ensemble["folds"] == K
    assert lineage.ensemble["combine"] == "mean of probabilities"
    assert lineage.ensemble["fold_best_epochs"] == [f.best_epoch for f in cv.folds]
    metrics = bundle.metrics()
    assert metrics["ensemble"]["folds"] == K
    assert metrics["cv"]["folds"] == K
    table: list[dict[str, Any]] = metrics["variants"]["table"]  # type: ignore[assignment]
    assert "pruned_fp32" not in {row["name"] for row in table}
    assert lineage.serving_variant == outcome.serving_variant


def _regression_member(seed: int, frame: pd.DataFrame) -> Network:
    features = [FeatureConfig(name=c) for c in frame.columns]
    contract = build_contract(frame, features, [], nullable=True, task="regression")
    torch.manual_seed(seed)
    pre = Preprocessor.fit(encode_frame(frame, contract), contract)
    return Network(pre, MLP(pre.n_outputs, [8], 0.0, 1), regression=True, target_mean=3.0)


def test_regression_ensemble_averages_values_in_onnx(tmp_path: Path) -> None:
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 3)), columns=list("abc"))
    members = [_regression_member(seed, frame) for seed in (1, 2, 3)]
    model = Ensemble(members)
    x = frame.to_numpy(dtype=np.float32)
    expected = np.mean([m.predict_proba(torch.from_numpy(x)).numpy() for m in members], axis=0)
    np.testing.assert_allclose(model.predict_proba(torch.from_numpy(x)).numpy(), expected)
    path = export_onnx(model, 3, tmp_path / "ensemble.onnx", "value")
    got = onnx_predict(path, x)
    assert got.shape == (20, 1)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_folds_that_saw_other_string_categories_are_refused() -> None:
    frame = pd.DataFrame({"colour": ["red", "blue", "green", "red"]})
    features = [FeatureConfig(name="colour", kind="categorical")]
    full = build_contract(frame, features, ["0", "1"], nullable=True)
    short = build_contract(frame.iloc[:2], features, ["0", "1"], nullable=True)
    check_categories(full, [full, full])
    with pytest.raises(TrainingError, match=r"fold 2 never saw categories \['green'\]"):
        check_categories(full, [full, short])


def test_keras_is_refused_before_training(tmp_path: Path, fair: Dataset) -> None:
    scope = make_settings(tmp_path, framework="keras").training_scope()
    with pytest.raises(TrainingError, match="PyTorch fold networks"):
        build_ensemble(scope, K, dataset=fair)


def test_cli_ensemble_needs_cv(tmp_path: Path) -> None:
    config = tmp_path / "trainsmart.yaml"
    config.write_text(f"data_dir: {tmp_path}\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "train", "--ensemble"])
    assert result.exit_code == 2, result.output
    assert "--ensemble needs --cv K" in result.output
