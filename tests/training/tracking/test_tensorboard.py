"""TensorBoard event files, read back with TensorBoard's own EventAccumulator: the loss,
score and learning rate of every epoch (PyTorch and Keras) and the exported graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.services import require_module
from tests.training.conftest import open_env
from tests.training.tracking.conftest import tracked_settings
from training.data import Dataset
from training.pipeline import train_and_register
from training.tracking import training_run
from training.train import train_model

event_accumulator = require_module(
    "tensorboard.backend.event_processing.event_accumulator",
    pip="pip install -e '.[tensorboard]'",
)
SCALARS = {"train_loss", "val_loss", "val_score", "lr"}


def read_events(folder: Path) -> Any:
    accumulator = event_accumulator.EventAccumulator(str(folder))
    accumulator.Reload()
    return accumulator


def test_scalars_per_epoch_and_the_graph(tmp_path: Path, small_fair: Dataset) -> None:
    env = open_env(tracked_settings(tmp_path / "data", tensorboard_dir=tmp_path / "tb"))
    outcome = train_and_register(env.scope, env.registry, dataset=small_fair, progress=False)
    env.db.close()
    folder = Path(outcome.bundle.lineage().tracking["tensorboard_run"])
    assert folder.parent == tmp_path / "tb" / env.settings.model_name
    events = read_events(folder)
    assert set(events.Tags()["scalars"]) >= SCALARS
    history = outcome.trained.fit.history
    for key in SCALARS:
        points = events.Scalars(key)
        assert [p.step for p in points] == [e.epoch for e in history], key
        expected = [getattr(e, key) for e in history]
        assert [p.value for p in points] == pytest.approx(expected, rel=1e-6), key
    assert events.Tags()["graph"]
    ops = {node.op for node in events.Graph().node}
    assert "Input" in ops
    assert ops & {"Gemm", "MatMul"}, f"no dense layer among {sorted(ops)}"


def test_keras_epochs_are_scalars_too(tmp_path: Path, small_fair: Dataset) -> None:
    require_module("keras", pip="pip install -e '.[keras]'")
    settings = tracked_settings(
        tmp_path / "data", training={"framework": "keras"}, tensorboard_dir=tmp_path / "tb"
    )
    scope = settings.training_scope()
    with training_run(scope) as run:
        trained = train_model(scope, dataset=small_fair, progress=False, on_epoch=run.epoch)
        folder = Path(run.link()["tensorboard_run"])
    events = read_events(folder)
    history = trained.fit.history
    assert history, "keras reported no epoch"
    for key in ("train_loss", "val_loss"):
        points = events.Scalars(key)
        assert [p.step for p in points] == [e.epoch for e in history]
        assert [p.value for p in points] == pytest.approx(
            [getattr(e, key) for e in history], rel=1e-6
        )
