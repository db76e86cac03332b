"""Fixtures of the tracking tests: one real ``mlflow server`` for the session, tiny runs.

Every run trains a one-layer network for at most 3 epochs on a few hundred rows of the
Fair data, with the compressed variants off (one variant, fp32, is still measured).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.settings import Settings
from tests.mlflow_server import MlflowServer, require_mlflow
from tests.training.conftest import subsample
from training.data import Dataset

EPOCHS = 3
ROWS = 800
TINY_TRAINING: dict[str, Any] = {
    "max_epochs": EPOCHS,
    "patience": EPOCHS,
    "hidden_sizes": [8],
    "compression": {"enabled": False},
}


def tracked_settings(
    data_dir: Path, *, training: dict[str, Any] | None = None, **tracking: Any
) -> Settings:
    """Settings for a tiny tracked run in ``data_dir`` (``tracking``: training.tracking)."""
    return Settings(
        data_dir=data_dir,
        data={"reference_size": 200},
        training={**TINY_TRAINING, **(training or {}), "tracking": tracking},
    )


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` (SQLite, local artifacts), started once: it takes ~15 s."""
    binary = require_mlflow()
    with MlflowServer(binary, tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server


@pytest.fixture(scope="session")
def small_fair(fair: Dataset) -> Dataset:
    return subsample(fair, ROWS)
