"""Tuning: pruning, resuming a stored study, grid validation, best values in the lineage.

Every study runs on 800 rows of the Fair data with tiny networks and at most 6 epochs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from apps.cli.main import cli
from apps.settings import Settings
from tests.training.conftest import open_env, subsample
from training.data import Dataset
from training.pipeline import train_and_register
from training.settings import TrainingScope
from training.tuning import TuneResult, apply_best, load_result, study_path, tune
from training.tuning.space import make_pruner, make_sampler
from trainsmart.errors import ConfigError

ROWS = 800
WIDE_SPACE: dict[str, Any] = {
    # from hopeless (1e-5: the loss hardly moves in 6 epochs) to fast
    "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "hidden_width": {"type": "int", "low": 4, "high": 32},
}


def tuning_settings(data_dir: Path, **tuning: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        data={"reference_size": 200},
        training={
            "max_epochs": 6,
            "patience": 3,
            "hidden_sizes": [8],
            "batch_size": 128,
            "quantize": False,
            "tuning": {
                "pruner": "median",
                "startup_trials": 3,
                "warmup_epochs": 1,
                "seed": 0,
                "search_space": WIDE_SPACE,
                **tuning,
            },
        },
    )


def tuning_scope(data_dir: Path, **tuning: Any) -> TrainingScope:
    return tuning_settings(data_dir, **tuning).training_scope()


@pytest.fixture(scope="module")
def small(fair: Dataset) -> Dataset:
    return subsample(fair, ROWS)


@pytest.fixture(scope="module")
def study(
    tmp_path_factory: pytest.TempPathFactory, small: Dataset
) -> tuple[TrainingScope, TuneResult]:
    """A 20-trial TPE study with the median pruner, stored under its own data_dir."""
    settings = tuning_scope(tmp_path_factory.mktemp("tuning"))
    return settings, tune(settings, study_name="wide", n_trials=20, dataset=small, progress=False)


def test_twenty_trials_with_the_median_pruner_prune_some(
    study: tuple[TrainingScope, TuneResult],
) -> None:
    settings, result = study
    assert result.n_trials == 20
    assert result.n_pruned >= 1
    assert result.n_complete >= 1
    assert result.n_complete + result.n_pruned + result.n_failed == 20
    assert result.storage_path == settings.data_dir / "tuning" / "wide.db"
    assert result.storage_path.is_file()
    assert result.metric == "val_loss"
    assert set(result.best_params) == {"learning_rate", "hidden_width"}
    # the best value is the smallest validation loss among the completed trials
    stored = optuna.load_study(
        study_name="wide", storage=f"sqlite:///{result.storage_path.as_posix()}"
    )
    values = [t.value for t in stored.trials if t.value is not None]
    assert result.best_value == pytest.approx(min(values))


def test_running_the_study_again_resumes_it(
    study: tuple[TrainingScope, TuneResult], small: Dataset, tmp_path: Path
) -> None:
    settings, _ = study
    copy = tmp_path / "data"
    shutil.copytree(settings.data_dir, copy)
    resumed_settings = tuning_scope(copy)
    before = optuna.load_study(
        study_name="wide", storage=f"sqlite:///{study_path(resumed_settings, 'wide')}"
    ).trials

    resumed = tune(resumed_settings, study_name="wide", n_trials=5, dataset=small, progress=False)

    after = optuna.load_study(
        study_name="wide", storage=f"sqlite:///{resumed.storage_path.as_posix()}"
    ).trials
    assert resumed.n_trials == 25 and len(after) == 25
    assert [t.number for t in after] == list(range(25))
    assert [t.params for t in after[:20]] == [t.params for t in before]
    # a shifted sampler seed: the added trials do not redraw the first ones
    assert all(t.params != before[i].params for i, t in enumerate(after[20:]))
    assert load_result(resumed_settings, "wide").n_trials == 25


def test_grid_sampler_needs_choices_for_every_parameter(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="sampler 'grid'") as caught:
        tuning_settings(tmp_path, sampler="grid")
    message = str(caught.value)
    assert "learning_rate (float 1e-05..0.1 log)" in message
    assert "hidden_width (int 4..32)" in message
    assert "{type: categorical, choices: [...]}" in message


def test_random_sampler_with_hyperband_prunes_weak_trials(small: Dataset, tmp_path: Path) -> None:
    settings = tuning_scope(tmp_path, sampler="random", pruner="hyperband")
    tuning = settings.training.tuning
    assert isinstance(make_sampler(tuning, 0), optuna.samplers.RandomSampler)
    assert isinstance(make_pruner(settings.training), optuna.pruners.HyperbandPruner)
    result = tune(settings, study_name="hb", n_trials=12, dataset=small, progress=False)
    assert result.n_trials == 12 and result.n_complete >= 1
    assert result.n_pruned >= 1, result  # the hopeless learning rates stop early


def test_grid_sampler_tries_each_combination_once(small: Dataset, tmp_path: Path) -> None:
    grid = {
        "learning_rate": {"type": "categorical", "choices": [0.003, 0.03]},
        "hidden_sizes": {"type": "categorical", "choices": [[8], [16, 8]]},
    }
    settings = tuning_scope(tmp_path, sampler="grid", pruner="none", search_space=grid)
    first = tune(settings, n_trials=10, dataset=small, progress=False)
    assert first.n_trials == 4 and first.n_complete == 4
    assert first.best_params["hidden_sizes"] in ([8], [16, 8])
    again = tune(settings, n_trials=10, dataset=small, progress=False)
    assert again.n_trials == 4  # the grid is exhausted: nothing is added


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"momentum": {"type": "float", "low": 0.1, "high": 0.9}}, "not training settings"),
        (
            {
                "hidden_width": {"type": "int", "low": 4, "high": 8},
                "hidden_sizes": {"type": "categorical", "choices": [[4]]},
            },
            "keep one",
        ),
        ({"dropout": {"type": "categorical", "choices": []}}, "non-empty 'choices'"),
        ({"learning_rate": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "low > 0"),
    ],
)
def test_search_space_errors_say_what_is_wrong(
    space: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match=expected):
        tuning_settings(tmp_path, search_space=space)


def test_values_outside_a_setting_range_are_rejected_before_any_trial(
    small: Dataset, tmp_path: Path
) -> None:
    space = {"dropout": {"type": "float", "low": 0.0, "high": 1.5}}
    settings = tuning_scope(tmp_path, search_space=space)
    with pytest.raises(ConfigError, match=r"search_space\.dropout: 1\.5 is not a valid value"):
        tune(settings, dataset=small, progress=False)
    assert not study_path(settings, settings.model_name).exists()


def test_an_unknown_study_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run 'trainsmart tune --study nope' first"):
        load_result(tuning_scope(tmp_path), "nope")


def test_best_params_go_into_the_registered_lineage(
    study: tuple[TrainingScope, TuneResult], small: Dataset, tmp_path: Path
) -> None:
    settings, result = study
    tuned = apply_best(settings.model_copy(update={"data_dir": tmp_path}), result)
    width = result.best_params["hidden_width"]
    assert tuned.training.hidden_sizes == [width, width // 2]
    assert tuned.training.learning_rate == result.best_params["learning_rate"]

    env = open_env(tuning_settings(tmp_path))
    outcome = train_and_register(
        tuned, env.registry, dataset=small, progress=False, tuning=result.lineage()
    )
    lineage = outcome.bundle.lineage()
    assert lineage.tuning["study"] == "wide"
    assert lineage.tuning["best_params"] == result.best_params
    assert lineage.tuning["n_trials"] == 20
    assert lineage.tuning["n_pruned"] == result.n_pruned
    assert lineage.hyperparameters["hidden_sizes"] == [width, width // 2]
    env.db.close()


def test_cli_tune_register_and_train_tuned(small: Dataset, tmp_path: Path) -> None:
    table = small.frame.assign(affair=small.target.astype(int))
    table.to_csv(tmp_path / "rows.csv", index=False)
    config = tmp_path / "conf.yaml"
    settings = tuning_settings(tmp_path / "data")
    document = settings.model_dump(mode="json")
    document["data"].update(
        dataset="file",
        path=str(tmp_path / "rows.csv"),
        target="affair",
        features=[f.model_dump() for f in small.features],
    )
    config.write_text(yaml.safe_dump(document))
    run = CliRunner().invoke

    tuned = run(
        cli, ["--config", str(config), "tune", "--trials", "4", "--study", "s", "--register"]
    )
    assert tuned.exit_code == 0, tuned.output
    assert "best val_loss" in tuned.output and "registered fair-affairs:v1" in tuned.output
    again = run(cli, ["--config", str(config), "train", "--tuned", "s", "--quiet"])
    assert again.exit_code == 0, again.output

    env = open_env(tuning_settings(tmp_path / "data"))
    for version in ("v1", "v2"):
        lineage = env.registry.get("fair-affairs", version).lineage()
        assert lineage.tuning["study"] == "s" and lineage.tuning["n_trials"] == 4
    env.db.close()
    missing = run(cli, ["--config", str(config), "train", "--tuned", "other"])
    assert missing.exit_code == 2  # a ConfigError: exits like a settings or usage error
    assert "run 'trainsmart tune --study other' first" in missing.output


def test_tune_has_help() -> None:
    result = CliRunner().invoke(cli, ["tune", "--help"])
    assert result.exit_code == 0
    assert "--trials" in result.output and "--study" in result.output
    assert "--register" in result.output
