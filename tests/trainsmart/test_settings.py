"""Settings: YAML file, environment overrides, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from trainsmart.settings import load_settings


def test_defaults_need_no_external_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.data_dir == (tmp_path / ".trainsmart").resolve()
    assert settings.paths.state_db.suffix == ".db"
    assert settings.serving.cache_enabled
    assert settings.data.dataset == "fair"


def test_yaml_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "conf.yaml"
    config.write_text("serving:\n  port: 4000\n  cache_size: 7\nmonitoring:\n  window_rows: 50\n")
    monkeypatch.setenv("TRAINSMART_SERVING__PORT", "4100")
    settings = load_settings(config)
    assert settings.serving.port == 4100  # env beats file
    assert settings.serving.cache_size == 7  # file beats default
    assert settings.monitoring.window_rows == 50
    assert load_settings(config, model_name="other").model_name == "other"
    monkeypatch.setenv("TRAINSMART_CONFIG", str(config))
    assert load_settings().serving.cache_size == 7


def test_bad_values_are_named(tmp_path: Path) -> None:
    config = tmp_path / "conf.yaml"
    config.write_text("data:\n  train_fraction: 0.9\n  validation_fraction: 0.2\n")
    with pytest.raises(ValidationError, match="test split remains"):
        load_settings(config)
    with pytest.raises(ValidationError, match="serving"):
        load_settings(serving={"port": -1})
