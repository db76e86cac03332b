"""Permutation importance of the served model: its metrics.json shape, determinism under a
seed, the feature the target depends on ranked first, the report and `trainsmart models show`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from apps.cli.main import cli
from tests.conftest import linear_onnx, logistic_onnx
from tests.training.conftest import make_settings, open_env
from training.data import Dataset
from training.importance import permutation_importance, top_features
from training.onnx_parity import session
from training.pipeline import TrainOutcome, train_and_register
from training.report import IMPORTANCE_FILE, REPORT_DIR, REPORT_FILE
from training.settings import FeatureConfig
from trainsmart.registry import FeatureSpec, InputContract


def _numeric(names: list[str], **contract: object) -> InputContract:
    features = [FeatureSpec(name=n, kind="numeric", min=-5.0, max=5.0) for n in names]
    return InputContract(features=features, **contract)  # type: ignore[arg-type]


def _assert_shape(section: dict[str, object], features: list[str], metric: str) -> None:
    assert set(section) == {"method", "metric", "repeats", "rows", "features"}
    assert section["method"] == "permutation" and section["metric"] == metric
    assert isinstance(section["repeats"], int) and isinstance(section["rows"], int)
    scored = section["features"]
    assert isinstance(scored, dict) and sorted(scored) == sorted(features)
    for values in scored.values():
        assert set(values) == {"mean", "std"}
        assert all(isinstance(v, float) and np.isfinite(v) for v in values.values())
        assert values["std"] >= 0.0


def test_the_column_a_classifier_reads_ranks_first_and_the_seed_fixes_the_result(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(400, 4)).astype(np.float32)
    labels = ["1" if v > 0 else "0" for v in matrix[:, 2]]  # y depends on column c only
    path = tmp_path / "model.onnx"
    logistic_onnx(path, np.array([0.0, 0.0, 8.0, 0.0]), 0.0)
    contract = _numeric(["a", "b", "c", "d"], classes=["0", "1"])
    sess = session(path)

    def run(seed: int, max_rows: int = 2000) -> dict[str, object]:
        return permutation_importance(
            sess, matrix, labels, contract, repeats=4, max_rows=max_rows, seed=seed
        )

    section = run(7)
    _assert_shape(section, ["a", "b", "c", "d"], "accuracy")
    assert section["repeats"] == 4 and section["rows"] == 400
    ranked = top_features(section)
    assert ranked[0][0] == "c" and ranked[0][1] > 0.3  # shuffling c costs ~half the accuracy
    for name, mean, std in ranked[1:]:  # unused columns: shuffling them changes nothing
        assert mean == 0.0 and std == 0.0, name
    assert run(7) == section  # seeded: the same numbers again
    assert run(8)["features"] != section["features"]  # another seed shuffles differently
    assert run(7, max_rows=50)["rows"] == 50


def test_a_regression_model_is_scored_by_r2(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(300, 3)).astype(np.float32)
    values = (3.0 * matrix[:, 1] + 0.5 * matrix[:, 0]).tolist()
    path = tmp_path / "model.onnx"
    linear_onnx(path, np.array([0.5, 3.0, 0.0]), 0.0)
    contract = _numeric(["x0", "x1", "x2"], task="regression", output_name="value")
    section = permutation_importance(
        path, matrix, values, contract, repeats=3, max_rows=2000, seed=0
    )
    _assert_shape(section, ["x0", "x1", "x2"], "r2")
    assert [name for name, _, _ in top_features(section)] == ["x1", "x0", "x2"]


def test_an_image_model_gets_no_per_pixel_importance(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    logistic_onnx(path, np.linspace(-1, 1, 4), 0.0)
    contract = _numeric([f"pixel_{k}" for k in range(4)], classes=["0", "1"], image_shape=[1, 2, 2])
    matrix = np.zeros((10, 4), dtype=np.float32)
    section = permutation_importance(
        path, matrix, ["0"] * 10, contract, repeats=5, max_rows=2000, seed=0
    )
    assert section["features"] == {} and "image" in str(section["note"])
    assert top_features(section) == []


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainOutcome]:
    """A real model trained (tiny, no compression) on rows whose class is the sign of x,
    beside a noise column and a string category."""
    rng = np.random.default_rng(3)
    n = 600
    frame = pd.DataFrame(
        {
            "noise": rng.normal(size=n),
            "x": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    target = pd.Series(np.where(frame["x"] > 0, "yes", "no"))
    dataset = Dataset(
        frame,
        target,
        [
            FeatureConfig(name="noise"),
            FeatureConfig(name="x"),
            FeatureConfig(name="colour", kind="categorical"),
        ],
        ["no", "yes"],
    )
    data_dir = tmp_path_factory.mktemp("importance")
    settings = make_settings(
        data_dir, max_epochs=15, compression={"enabled": False}, importance_repeats=3
    )
    env = open_env(settings)
    outcome = train_and_register(env.scope, env.registry, dataset=dataset, progress=False)
    env.registry.promote(env.settings.model_name, outcome.bundle.version, reason="test")
    env.db.close()
    return data_dir, outcome


def test_training_writes_importance_into_metrics_json_and_the_report(
    synthetic_run: tuple[Path, TrainOutcome],
) -> None:
    _, outcome = synthetic_run
    bundle = outcome.bundle
    section = json.loads((bundle.path / "metrics.json").read_text())["importance"]
    _assert_shape(section, ["noise", "x", "colour"], "accuracy")
    assert section["repeats"] == 3
    assert section["rows"] == outcome.trained.rows["test"]
    assert top_features(section)[0][0] == "x"
    report = bundle.path / REPORT_DIR
    markdown = (report / REPORT_FILE).read_text()
    assert "## Feature importance" in markdown and f"]({IMPORTANCE_FILE})" in markdown
    assert "| x |" in markdown and "| colour |" in markdown
    assert (report / IMPORTANCE_FILE).read_bytes().startswith(b"\x89PNG")


def test_models_show_lists_the_top_features_with_their_spread(
    synthetic_run: tuple[Path, TrainOutcome], tmp_path: Path
) -> None:
    data_dir, outcome = synthetic_run
    config = tmp_path / "trainsmart.yaml"
    config.write_text(f"data_dir: {data_dir}\n")
    name = outcome.bundle.name
    result = CliRunner().invoke(cli, ["--config", str(config), "models", "show", name])
    assert result.exit_code == 0, result.output
    assert "feature importance" in result.output
    section = json.loads((outcome.bundle.path / "metrics.json").read_text())["importance"]
    x = section["features"]["x"]
    assert f"{x['mean']:.4f} ± {x['std']:.4f}" in result.output
