"""k-fold cross-validation: per-fold scores, disjoint folds, per-fold preprocessing, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.training.conftest import make_settings, open_env, subsample
from training.cv import CVResult, cross_validate
from training.data import Dataset, split
from training.settings import TrainingScope
from trainsmart.errors import TrainingError


@pytest.fixture(scope="module")
def small(fair: Dataset) -> Dataset:
    return subsample(fair, 600)


@pytest.fixture(scope="module")
def cv_settings(tmp_path_factory: pytest.TempPathFactory) -> TrainingScope:
    settings = make_settings(tmp_path_factory.mktemp("cv"), max_epochs=3, learning_rate=1e-2)
    return settings.training_scope()


@pytest.fixture(scope="module")
def five_fold(cv_settings: TrainingScope, small: Dataset) -> CVResult:
    return cross_validate(cv_settings, 5, dataset=small)


def test_five_folds_report_mean_and_std(five_fold: CVResult) -> None:
    assert five_fold.k == 5
    summary = five_fold.summary()
    for metric in ("accuracy", "f1", "roc_auc"):
        values = [fold.metrics[metric] for fold in five_fold.folds]
        assert summary[metric]["mean"] == pytest.approx(np.mean(values))
        assert summary[metric]["std"] == pytest.approx(np.std(values, ddof=1))
        assert summary[metric]["std"] > 0
    assert "rows" not in summary
    flat = five_fold.to_metrics()
    assert flat["folds"] == 5.0
    assert flat["accuracy_mean"] == summary["accuracy"]["mean"]
    assert flat["roc_auc_std"] == summary["roc_auc"]["std"]


def test_folds_are_disjoint_and_leave_the_test_split_out(
    five_fold: CVResult, cv_settings: TrainingScope, small: Dataset
) -> None:
    splits = split(small, cv_settings.data)
    pool = set(splits.train.frame.index) | set(splits.validation.frame.index)
    tests = [set(fold.test_index) for fold in five_fold.folds]
    assert sum(len(t) for t in tests) == len(pool) and set().union(*tests) == pool
    for i, fold in enumerate(five_fold.folds):
        for j in range(i + 1, len(tests)):
            assert not tests[i] & tests[j]
        train, val = set(fold.train_index), set(fold.validation_index)
        assert not (train & val or train & tests[i] or val & tests[i])
        assert train | val | tests[i] == pool
        assert fold.metrics["rows"] == len(fold.test_index)


def test_each_fold_fits_preprocessing_on_its_own_training_rows(
    five_fold: CVResult, small: Dataset
) -> None:
    numeric = [f.name for f in small.features if f.kind == "numeric"]
    means = []
    for fold in five_fold.folds:
        rows = small.frame.loc[fold.train_index, numeric].to_numpy()
        np.testing.assert_allclose(fold.statistics["median"], np.median(rows, axis=0), rtol=1e-6)
        np.testing.assert_allclose(fold.statistics["mean"], rows.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(fold.statistics["std"], rows.std(axis=0), rtol=1e-5)
        means.append(fold.statistics["mean"])
    assert len({tuple(m) for m in means}) == len(means)  # five different fits


def test_too_few_folds_or_rows_are_refused(cv_settings: TrainingScope, small: Dataset) -> None:
    with pytest.raises(TrainingError, match="at least 2 folds"):
        cross_validate(cv_settings, 1, dataset=small)
    with pytest.raises(TrainingError, match="fewer than the 400 folds"):
        cross_validate(cv_settings, 400, dataset=small)


def test_train_cli_stores_the_cv_summary_in_the_bundle(small: Dataset, tmp_path: Path) -> None:
    from apps.cli.main import cli

    rows = tmp_path / "rows.csv"
    small.frame.assign(label=small.target).to_csv(rows, index=False)
    features = "\n".join(f"    - {{name: {f.name}, kind: {f.kind}}}" for f in small.features)
    config = tmp_path / "conf.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\nmodel_name: cvmodel\n"
        f"data:\n  dataset: file\n  path: {rows}\n  target: label\n  reference_size: 100\n"
        f"  features:\n{features}\n"
        "training:\n  max_epochs: 2\n  hidden_sizes: [8]\n  quantize: false\n"
    )
    result = CliRunner().invoke(
        cli, ["--config", str(config), "train", "--cv", "3", "--quiet", "--no-promote"]
    )
    assert result.exit_code == 0, result.output
    assert "3-fold cross-validation" in result.output and "±" in result.output
    env = open_env(make_settings(tmp_path / "data"))
    try:
        bundle = env.registry.get("cvmodel", "v1")
        cv = bundle.metrics()["cv"]
    finally:
        env.db.close()
    assert cv["folds"] == 3.0
    assert {"accuracy_mean", "accuracy_std", "f1_mean", "roc_auc_std"} <= cv.keys()
    assert "serving" in bundle.metrics()


def test_cli_rejects_a_single_fold() -> None:
    from apps.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "--cv", "1"])
    assert result.exit_code == 2 and "--cv" in result.output
