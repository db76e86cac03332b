"""Tracking never fails training: an MLflow server that is not there costs one warning
line naming the URI and what to do; a backend that breaks mid-run is switched off after
its first error."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.services import free_port, require_module
from tests.training.conftest import open_env
from tests.training.tracking.conftest import tracked_settings
from training.data import Dataset
from training.pipeline import train_and_register
from training.tracking import Guarded, RunStatus, Tracker
from training.tracking.factory import mlflow_warning

require_module("mlflow", pip="pip install -e '.[mlflow]'")


def test_training_goes_on_with_one_warning_when_mlflow_is_down(
    tmp_path: Path, small_fair: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there
    uri = f"http://127.0.0.1:{port}"
    env = open_env(tracked_settings(tmp_path / "data", mlflow_uri=uri))
    with caplog.at_level(logging.WARNING):
        outcome = train_and_register(env.scope, env.registry, dataset=small_fair, progress=False)
    env.db.close()
    outcome.bundle.verify()
    assert outcome.bundle.lineage().tracking == {}
    about_tracking = [  # urllib3's retry warnings name the port as "port=<port>"
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and (uri in r.message or f"port={port}" in r.message)
    ]
    assert len(about_tracking) == 1, [r.message for r in about_tracking]
    warning = about_tracking[0]
    assert warning.name == "training.tracking"
    assert "training goes on without it" in warning.message
    assert "connection refused" in warning.message
    assert "training.tracking.mlflow_uri" in warning.message and "mlflow server" in warning.message


class Breaks(Tracker):
    """A backend whose server goes away after the run opened: every call raises."""

    def __init__(self) -> None:
        self.calls = 0

    def _fail(self) -> None:
        self.calls += 1
        raise ConnectionError("server went away")

    def child(
        self, name: str, tags: Mapping[str, str] | None = None, *, start_time: float | None = None
    ) -> Tracker:
        self._fail()
        return self

    def log_params(self, params: Mapping[str, str]) -> None:
        self._fail()

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._fail()

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._fail()

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        self._fail()

    def end(self, status: RunStatus = "FINISHED", *, end_time: float | None = None) -> None:
        self._fail()

    def link(self) -> dict[str, str]:
        return {"mlflow_run_id": "abc"}


def test_a_backend_that_breaks_mid_run_warns_once_and_is_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = Breaks()
    run = Guarded(backend, mlflow_warning("http://tracker:5000"))
    with caplog.at_level(logging.WARNING, logger="training.tracking"):
        for epoch in range(1, 4):
            run.log_metrics({"val_loss": 0.5}, step=epoch)
        run.child("trial 0").log_metrics({"val_loss": 0.4}, step=1)
        run.set_tags({"trainsmart.version": "v1"})
        run.end("FINISHED")
    assert backend.calls == 1, "after the first failure no call reaches the backend"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "MLflow at http://tracker:5000 failed" in caplog.records[0].message
    assert run.link() == {"mlflow_run_id": "abc"}, "the run exists, if incomplete"
