"""The secrets directory (``TRAINSMART_SECRETS_DIR``): one file per setting, as a mounted
Kubernetes Secret or ``/run/secrets`` gives them; between the YAML file and the
environment in precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.settings import Settings
from serving.settings import ServingScope
from trainsmart.errors import ConfigError
from trainsmart.settings import SECRETS_ENV, child_environment, load

URL = "postgresql://trainsmart:from-secret@db.example:5432/trainsmart"


def secret_volume(folder: Path, files: dict[str, str]) -> Path:
    """``files`` laid out as the kubelet mounts a Secret: the data in a hidden timestamped
    folder, a ``..data`` link to it, and one link per key through ``..data``."""
    stamped = folder / "..2026_11_29_22_43_20.123456789"
    stamped.mkdir(parents=True)
    for name, value in files.items():
        (stamped / name).write_text(value, encoding="utf-8")
    (folder / "..data").symlink_to(stamped.name)
    for name in files:
        (folder / name).symlink_to(Path("..data") / name)
    return folder


def test_settings_are_read_from_a_mounted_secret(tmp_path: Path) -> None:
    folder = secret_volume(
        tmp_path / "secrets",
        {
            "TRAINSMART_DATABASE_URL": URL + "\n",  # `kubectl create secret --from-file` keeps it
            "serving__admin_token": "admin-token",
            "TRAINSMART_MONITORING__WEBHOOK_TOKEN": "webhook-token",
            "serving__api_keys": '["k1", "k2"]',
        },
    )
    settings = load(Settings, environ={SECRETS_ENV: str(folder)})
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == URL
    assert settings.serving.admin_token is not None
    assert settings.serving.admin_token.get_secret_value() == "admin-token"
    assert settings.monitoring.webhook_token is not None
    assert settings.monitoring.webhook_token.get_secret_value() == "webhook-token"
    assert [key.get_secret_value() for key in settings.serving.api_keys] == ["k1", "k2"]


def test_a_plain_folder_of_lowercase_names_works_too(tmp_path: Path) -> None:
    folder = tmp_path / "run-secrets"
    folder.mkdir()
    (folder / "database_url").write_text(URL, encoding="utf-8")
    (folder / ".hidden").write_text("ignored", encoding="utf-8")
    settings = load(Settings, environ={SECRETS_ENV: str(folder)})
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == URL


def test_the_environment_beats_the_secrets_which_beat_the_file(tmp_path: Path) -> None:
    config = tmp_path / "trainsmart.yaml"
    config.write_text(
        "database_url: sqlite:///from-file.db\n"
        "serving: {admin_token: from-file, redis_url: 'redis://from-file:6379/0'}\n",
        encoding="utf-8",
    )
    folder = secret_volume(
        tmp_path / "secrets",
        {"database_url": URL, "serving__admin_token": "from-secret"},
    )
    environ = {SECRETS_ENV: str(folder), "TRAINSMART_SERVING__ADMIN_TOKEN": "from-env"}
    settings = load(Settings, config, environ=environ)
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == URL  # secrets beat the file
    assert settings.serving.admin_token is not None
    assert settings.serving.admin_token.get_secret_value() == "from-env"  # env beats secrets
    assert settings.serving.redis_url == "redis://from-file:6379/0"  # the file's own key


def test_a_file_that_names_no_setting_is_refused_naming_the_file(tmp_path: Path) -> None:
    folder = secret_volume(tmp_path / "secrets", {"database-url": URL, "serving__port": "1"})
    with pytest.raises(ConfigError) as caught:
        load(Settings, environ={SECRETS_ENV: str(folder)})
    assert caught.value.message == (
        f"database-url: unknown setting (did you mean database_url?) [{folder / 'database-url'}]"
    )


def test_a_secret_of_another_stage_is_left_to_it(tmp_path: Path) -> None:
    folder = secret_volume(
        tmp_path / "secrets",
        {"monitoring__webhook_token": "w", "serving__admin_token": "a"},
    )
    scope = load(ServingScope, environ={SECRETS_ENV: str(folder)})
    assert scope.serving.admin_token is not None
    assert scope.serving.admin_token.get_secret_value() == "a"


def test_a_secrets_dir_that_is_not_a_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(Settings, environ={SECRETS_ENV: str(tmp_path / "missing")})
    assert caught.value.message == (
        f"{SECRETS_ENV}={tmp_path / 'missing'} is not a directory; point it at the secrets"
    )


def test_settings_shows_a_secret_masked(tmp_path: Path) -> None:
    folder = secret_volume(tmp_path / "secrets", {"serving__admin_token": "very-secret"})
    settings = load(Settings, environ={SECRETS_ENV: str(folder)})
    assert "very-secret" not in repr(settings.model_dump(mode="json"))


def test_a_child_process_reads_the_secret_from_the_folder_not_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = secret_volume(tmp_path / "secrets", {"database_url": URL})
    monkeypatch.delenv("TRAINSMART_DATABASE_URL", raising=False)
    monkeypatch.setenv(SECRETS_ENV, str(folder))
    settings = load(Settings)
    env = child_environment(settings)
    assert env[SECRETS_ENV] == str(folder) and "TRAINSMART_DATABASE_URL" not in env
    assert load(Settings, environ=env).database_url == settings.database_url
    other = "postgresql://trainsmart:override@db.example:5432/other"
    overridden = load(Settings, database_url=other)  # not what the folder holds: passed on
    assert child_environment(overridden)["TRAINSMART_DATABASE_URL"] == other
