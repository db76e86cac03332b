"""Fixtures of the training tests: fast settings, the Fair data, one registered champion.

The champion is trained, registered and promoted once per session; each test
that changes the registry works on its own copy of that data directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

from apps.settings import Settings
from training.data import Dataset, load_dataset
from training.pipeline import TrainOutcome, train_and_register
from training.settings import TrainingScope
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, open_database

FAST_TRAINING: dict[str, Any] = {"max_epochs": 5, "hidden_sizes": [16], "patience": 3}
REFERENCE_SIZE = 200


def make_settings(data_dir: Path, **training: Any) -> Settings:
    """Settings for a quick run in ``data_dir`` (no YAML file is read)."""
    return Settings(
        data_dir=data_dir,
        data={"reference_size": REFERENCE_SIZE},
        training={**FAST_TRAINING, **training},
    )


@dataclass
class Env:
    """A data directory with its registry and input log."""

    settings: Settings
    registry: Registry
    input_log: InputLog
    db: Database

    @property
    def scope(self) -> TrainingScope:
        """What training code receives: ``settings.training_scope()``."""
        return self.settings.training_scope()


def subsample(dataset: Dataset, n: int) -> Dataset:
    """``n`` rows of ``dataset`` drawn with a fixed seed, renumbered from 0."""
    rows = dataset.frame.sample(n=n, random_state=0).index
    return Dataset(
        dataset.frame.loc[rows].reset_index(drop=True),
        dataset.target.loc[rows].reset_index(drop=True),
        dataset.features,
        dataset.classes,
    )


def open_env(settings: Settings) -> Env:
    db = open_database(settings)
    registry = Registry(settings.paths.model_store, db)
    return Env(settings, registry, InputLog(db), db)


@pytest.fixture(scope="session")
def fair() -> Dataset:
    return load_dataset(make_settings(Path(".unused")).data)


@pytest.fixture(scope="session")
def champion_dir(
    tmp_path_factory: pytest.TempPathFactory, fair: Dataset
) -> tuple[Path, TrainOutcome]:
    """A data directory whose registry holds v1 of the model, in production."""
    data_dir = tmp_path_factory.mktemp("champion")
    env = open_env(make_settings(data_dir))
    outcome = train_and_register(env.scope, env.registry, dataset=fair, progress=False)
    env.registry.promote(env.settings.model_name, outcome.bundle.version, reason="first model")
    env.db.close()
    return data_dir, outcome


@pytest.fixture
def champion(champion_dir: tuple[Path, TrainOutcome]) -> TrainOutcome:
    return champion_dir[1]


@pytest.fixture
def env_factory(champion_dir: tuple[Path, TrainOutcome], tmp_path: Path) -> Callable[..., Env]:
    """Open a private copy of the champion's data directory, with training overrides."""

    def factory(**training: Any) -> Env:
        data_dir = tmp_path / "data"
        if not data_dir.exists():
            shutil.copytree(champion_dir[0], data_dir)
        return open_env(make_settings(data_dir, **training))

    return factory
