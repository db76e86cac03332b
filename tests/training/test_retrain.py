"""Retraining from the input log: too few labels, a challenger that loses, one that wins;
the regression gate against a handmade champion (MSE, lower is better); the second gate on
the original test split (a challenger that wins the holdout by forgetting is rejected);
the optional shadow gate (a winner becomes the shadow candidate, not production)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apps.settings import Settings
from serving.runtime import ModelHolder
from tests.conftest import linear_onnx
from tests.training.conftest import FAST_TRAINING, REFERENCE_SIZE, Env, open_env
from training.data import load_dataset, split
from training.pipeline import TrainOutcome
from training.retrain import holdout_split, run_retrain
from trainsmart.registry import FeatureSpec, InputContract, Lineage


def log_labelled_rows(env: Env, champion: TrainOutcome, n: int) -> None:
    """Serve ``n`` test rows (logged as v1) and send their true labels as feedback."""
    test = champion.trained.splits.test
    records = test.frame.iloc[:n].to_dict(orient="records")
    labels = test.target.iloc[:n].tolist()
    name = env.settings.model_name
    for i, (row, label) in enumerate(zip(records, labels, strict=True)):
        env.input_log.append(f"req-{i}", name, "v1", [row], [{"class": "0"}], [False])
        env.input_log.add_feedback(f"req-{i}", label)


def with_margin(env: Env, margin: float, **more: object) -> Env:
    retrain = env.settings.training.retrain.model_copy(update={"margin": margin, **more})
    training = env.settings.training.model_copy(update={"retrain": retrain})
    env.settings = env.settings.model_copy(update={"training": training})
    return env


def test_too_few_labels_is_rejected(
    env_factory: Callable[..., Env], champion: TrainOutcome
) -> None:
    env = env_factory()
    log_labelled_rows(env, champion, 10)
    outcome = run_retrain(env.scope, env.registry, env.input_log, job_id=1)
    assert outcome.status == "rejected"
    assert "only 10 labelled rows" in outcome.reason
    assert env.registry.versions(env.settings.model_name) == ["v1"]
    assert env.registry.production(env.settings.model_name) == "v1"


def test_challenger_that_cannot_win_is_not_registered(
    env_factory: Callable[..., Env], champion: TrainOutcome
) -> None:
    env = with_margin(env_factory(), 1.0)
    log_labelled_rows(env, champion, 120)
    outcome = run_retrain(env.scope, env.registry, env.input_log, job_id=2)
    assert outcome.status == "rejected", outcome.reason
    assert "did not beat" in outcome.reason
    assert outcome.version is None
    assert outcome.rows == {"labelled": 120, "recent_train": 72, "holdout": 48, "test": 955}
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
    outcome = run_retrain(env.scope, env.registry, env.input_log, job_id=3)
    assert outcome.status == "promoted", outcome.reason
    name = env.settings.model_name
    assert outcome.version == "v2"
    assert env.registry.production(name) == "v2"
    assert env.registry.history(name) == ["v1", "v2"]
    latest = env.registry.audit(name)[0]
    assert (latest.action, latest.from_version, latest.to_version) == ("promote", "v1", "v2")
    assert latest.actor == "retrain-job:3"
    assert latest.reason.startswith("challenger accuracy ") and "beat champion" in latest.reason
    assert "on the original test split scored" in latest.reason
    assert outcome.champion_test_metrics["rows"] == outcome.challenger_test_metrics["rows"] == 955
    test_loss = (
        outcome.champion_test_metrics["accuracy"] - outcome.challenger_test_metrics["accuracy"]
    )
    assert test_loss <= env.settings.training.retrain.test_tolerance
    bundle = env.registry.get(name, "v2")
    bundle.verify()
    lineage = bundle.lineage()
    assert (lineage.parent_version, lineage.trigger, lineage.job_id) == ("v1", "retrain", 3)
    assert lineage.rows["recent"] == 72
    assert lineage.rows["train_effective"] == 4456 + 72 * 3
    assert len(bundle.reference()) == 120  # the recent inputs, fewer than reference_size


def diabetes_env(
    data_dir: Path,
    champion_bias: float,
    margin: float,
    *,
    weights: np.ndarray | None = None,
    label_shift: float = 0.0,
    **retrain: object,
) -> tuple[Env, list[float]]:
    """A fast diabetes (regression) setup whose production v1 is a handmade linear ONNX
    model (``weights``, default zeros, and ``champion_bias``), with 120 logged rows labelled
    with their true values plus ``label_shift`` (returned) and one labelled with a word."""
    settings = Settings(
        data_dir=data_dir,
        model_name="diabetes",
        data={"dataset": "diabetes", "reference_size": REFERENCE_SIZE},
        training={**FAST_TRAINING, "retrain": {"margin": margin, **retrain}},
    )
    env = open_env(settings)
    dataset = load_dataset(settings.data)
    features = [FeatureSpec(name=n, kind="numeric") for n in dataset.feature_names]
    contract = InputContract(features=features, task="regression", output_name="value")
    staging = data_dir / "staging"
    staging.mkdir()
    chosen = np.zeros(len(features)) if weights is None else weights
    linear_onnx(staging / "model.onnx", chosen, champion_bias)
    (staging / "contract.json").write_text(contract.model_dump_json())
    (staging / "metrics.json").write_text("{}")
    dataset.frame.iloc[:50].to_parquet(staging / "reference.parquet")
    bundle = env.registry.register("diabetes", staging, Lineage(dataset_fingerprint="handmade"))
    env.registry.promote("diabetes", bundle.version, reason="handmade champion")
    rows = dataset.frame.iloc[-120:].to_dict(orient="records")
    values = [float(v) + label_shift for v in dataset.target.iloc[-120:]]
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
    outcome = run_retrain(env.scope, env.registry, env.input_log, job_id=4)
    assert (outcome.status, outcome.metric) == (status, "mse"), outcome.reason
    assert says in outcome.reason and "(lower is better)" in outcome.reason
    test_rows = len(split(load_dataset(env.settings.data), env.settings.data).test)
    assert outcome.rows == {
        "labelled": 120,
        "unusable_labels": 1,
        "recent_train": 72,
        "holdout": 48,
        "test": test_rows,
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


def test_a_challenger_that_wins_the_holdout_by_forgetting_is_rejected(tmp_path: Path) -> None:
    """The champion is a least-squares fit of the original data; the recent labels are the
    truth plus 1000 (a broken label feed, say). The challenger learns the shift, so it wins
    the recent holdout by far, and loses the original test split by far more than
    test_tolerance: it must not be promoted."""
    settings = Settings(data={"dataset": "diabetes"})
    dataset = load_dataset(settings.data)
    train = split(dataset, settings.data).train
    design = np.column_stack([train.frame.to_numpy(dtype=float), np.ones(len(train))])
    fit, *_ = np.linalg.lstsq(design, train.target.to_numpy(dtype=float), rcond=None)
    env, _ = diabetes_env(
        tmp_path / "data", float(fit[-1]), 0.01, weights=fit[:-1], label_shift=1000.0,
        test_tolerance=1000.0,
    )  # fmt: skip
    outcome = run_retrain(env.scope, env.registry, env.input_log, job_id=5)
    assert outcome.status == "rejected", outcome.reason
    holdout_gain = outcome.champion_metrics["mse"] - outcome.challenger_metrics["mse"]
    test_loss = outcome.challenger_test_metrics["mse"] - outcome.champion_test_metrics["mse"]
    assert holdout_gain > 0.01, "the challenger must win the holdout for this test to mean much"
    assert test_loss > 1000.0
    assert "beat champion" in outcome.reason and "on the recent holdout, but lost" in outcome.reason
    assert "training.retrain.test_tolerance 1000" in outcome.reason
    assert outcome.version is None and env.registry.versions("diabetes") == ["v1"]
    assert env.registry.production("diabetes") == "v1"


def test_with_shadow_rows_the_winner_becomes_the_shadow_candidate(
    env_factory: Callable[..., Env], champion: TrainOutcome
) -> None:
    env = with_margin(env_factory(), -1.0, shadow_rows=50)
    log_labelled_rows(env, champion, 120)
    outcome = run_retrain(env.scope, env.registry, env.input_log, job_id=6)
    assert (outcome.status, outcome.version) == ("shadow", "v2"), outcome.reason
    name = env.settings.model_name
    assert env.registry.production(name) == "v1"
    candidate = env.registry.candidate(name)
    assert candidate is not None and (candidate.version, candidate.shadow) == ("v2", True)
    latest = env.registry.audit(name)[0]
    assert (latest.action, latest.to_version, latest.actor) == ("candidate", "v2", "retrain-job:6")
    assert "shadow candidate until 50 production rows" in latest.reason
