"""Retraining from the input log: too few labels, a challenger that loses, one that wins;
the regression gate against a handmade champion (MSE, lower is better)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.runtime import ModelHolder
from tests.conftest import linear_onnx
from training.data import load_dataset
from training.pipeline import TrainOutcome
from training.retrain import holdout_split, run_retrain
from trainsmart.registry import FeatureSpec, InputContract, Lineage
from trainsmart.settings import Settings

from .conftest import FAST_TRAINING, REFERENCE_SIZE, Env, open_env


def log_labelled_rows(env: Env, champion: TrainOutcome, n: int) -> None:
    """Serve ``n`` test rows (logged as v1) and send their true labels as feedback."""
    test = champion.trained.splits.test
    records = test.frame.iloc[:n].to_dict(orient="records")
    labels = test.target.iloc[:n].tolist()
    name = env.settings.model_name
    for i, (row, label) in enumerate(zip(records, labels, strict=True)):
        env.input_log.append(f"req-{i}", name, "v1", [row], [{"class": "0"}], [False])
        env.input_log.add_feedback(f"req-{i}", label)


def with_margin(env: Env, margin: float) -> Env:
    retrain = env.settings.training.retrain.model_copy(update={"margin": margin})
    training = env.settings.training.model_copy(update={"retrain": retrain})
    env.settings = env.settings.model_copy(update={"training": training})
    return env


def test_too_few_labels_is_rejected(
    env_factory: Callable[..., Env], champion: TrainOutcome
) -> None:
    env = env_factory()
    log_labelled_rows(env, champion, 10)
    outcome = run_retrain(env.settings, env.registry, env.input_log, job_id=1)
    assert outcome.status == "rejected"
    assert "only 10 labelled rows" in outcome.reason
    assert env.registry.versions(env.settings.model_name) == ["v1"]
    assert env.registry.production(env.settings.model_name) == "v1"


def test_challenger_that_cannot_win_is_not_registered(
    env_factory: Callable[..., Env], champion: TrainOutcome
) -> None:
    env = with_margin(env_factory(), 1.0)
    log_labelled_rows(env, champion, 120)
    outcome = run_retrain(env.settings, env.registry, env.input_log, job_id=2)
    assert outcome.status == "rejected", outcome.reason
    assert "did not beat" in outcome.reason
    assert outcome.version is None
    assert outcome.rows == {"labelled": 120, "recent_train": 72, "holdout": 48}
    assert 0 <= outcome.champion_metrics["accuracy"] <= 1
    assert 0 <= outcome.challenger_metrics["accuracy"] <= 1
    name = env.settings.model_name
    assert env.registry.versions(name) == ["v1"]
    assert env.registry.production(name) == "v1"
    assert [a.action for a in env.registry.audit(name)] == ["promote"]
    # the running service keeps answering with the champion
    holder = ModelHolder(env.registry, name, env.settings.serving)
    assert holder.refresh()
    row = champion.trained.splits.test.frame.iloc[:1].to_dict(orient="records")
    model = holder.current()
    assert model.version == "v1"
    assert model.predict_proba(model.contract.to_matrix(row)).shape == (1, 2)
    assert not holder.refresh()


def test_winning_challenger_is_promoted(
    env_factory: Callable[..., Env], champion: TrainOutcome
) -> None:
    env = with_margin(env_factory(), -1.0)
    log_labelled_rows(env, champion, 120)
    outcome = run_retrain(env.settings, env.registry, env.input_log, job_id=3)
    assert outcome.status == "promoted", outcome.reason
    name = env.settings.model_name
    assert outcome.version == "v2"
    assert env.registry.production(name) == "v2"
    assert env.registry.history(name) == ["v1", "v2"]
    latest = env.registry.audit(name)[0]
    assert (latest.action, latest.from_version, latest.to_version) == ("promote", "v1", "v2")
    assert latest.actor == "retrain-job:3"
    assert latest.reason.startswith("challenger accuracy ") and "beat champion" in latest.reason
    bundle = env.registry.get(name, "v2")
    bundle.verify()
    lineage = bundle.lineage()
    assert (lineage.parent_version, lineage.trigger, lineage.job_id) == ("v1", "retrain", 3)
    assert lineage.rows["recent"] == 72
    assert lineage.rows["train_effective"] == 4456 + 72 * 3
    assert len(bundle.reference()) == 120  # the recent inputs, fewer than reference_size


def diabetes_env(data_dir: Path, champion_bias: float, margin: float) -> tuple[Env, list[float]]:
    """A fast diabetes (regression) setup whose production v1 is a handmade ONNX model
    predicting ``champion_bias`` for every patient, with 120 logged rows labelled with their
    true values (returned) and one labelled with a word."""
    settings = Settings(
        data_dir=data_dir,
        model_name="diabetes",
        data={"dataset": "diabetes", "reference_size": REFERENCE_SIZE},
        training={**FAST_TRAINING, "retrain": {"margin": margin}},
    )
    env = open_env(settings)
    dataset = load_dataset(settings.data)
    features = [FeatureSpec(name=n, kind="numeric") for n in dataset.feature_names]
    contract = InputContract(features=features, task="regression", output_name="value")
    staging = data_dir / "staging"
    staging.mkdir()
    linear_onnx(staging / "model.onnx", np.zeros(len(features)), champion_bias)
    (staging / "contract.json").write_text(contract.model_dump_json())
    (staging / "metrics.json").write_text("{}")
    dataset.frame.iloc[:50].to_parquet(staging / "reference.parquet")
    bundle = env.registry.register("diabetes", staging, Lineage(dataset_fingerprint="handmade"))
    env.registry.promote("diabetes", bundle.version, reason="handmade champion")
    rows = dataset.frame.iloc[-120:].to_dict(orient="records")
    values = [float(v) for v in dataset.target.iloc[-120:]]
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        env.input_log.append(f"req-{i}", "diabetes", "v1", [row], [{"value": 0.0}], [False])
        env.input_log.add_feedback(f"req-{i}", repr(value))  # as /feedback stores it
    env.input_log.append("req-x", "diabetes", "v1", rows[:1], [{"value": 0.0}], [False])
    env.input_log.add_feedback("req-x", "high")  # not a number: left out, counted
    return env, values


@pytest.mark.parametrize(
    ("bias", "margin", "status", "says"),
    [
        (-1000.0, 0.01, "promoted", "beat champion"),
        (150.0, 1e9, "rejected", "did not beat champion"),
    ],
)
def test_regression_gate_compares_mse_lower_is_better(
    tmp_path: Path, bias: float, margin: float, status: str, says: str
) -> None:
    env, values = diabetes_env(tmp_path / "data", bias, margin)
    outcome = run_retrain(env.settings, env.registry, env.input_log, job_id=4)
    assert (outcome.status, outcome.metric) == (status, "mse"), outcome.reason
    assert says in outcome.reason and "(lower is better)" in outcome.reason
    assert outcome.rows == {
        "labelled": 120,
        "unusable_labels": 1,
        "recent_train": 72,
        "holdout": 48,
    }
    labels = pd.Series(values)
    holdout = labels.iloc[holdout_split(labels, 0.4, env.settings.data.seed, regression=True)[1]]
    expected = float(np.mean((holdout.to_numpy() - bias) ** 2))  # the constant champion's
    assert outcome.champion_metrics["mse"] == pytest.approx(expected, rel=1e-5)
    assert outcome.challenger_metrics["mse"] >= 0
    if status == "promoted":
        assert outcome.challenger_metrics["mse"] < outcome.champion_metrics["mse"]
        assert env.registry.production("diabetes") == outcome.version == "v2"
        assert env.registry.get("diabetes", "v2").contract().task == "regression"
    else:
        assert outcome.version is None and env.registry.versions("diabetes") == ["v1"]
