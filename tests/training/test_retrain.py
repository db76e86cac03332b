"""Retraining from the input log: too few labels, a challenger that loses, one that wins."""

from __future__ import annotations

from collections.abc import Callable

from serving.runtime import ModelHolder
from training.pipeline import TrainOutcome
from training.retrain import run_retrain

from .conftest import Env


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
