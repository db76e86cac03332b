"""Settings: YAML file, environment overrides, unknown keys refused with the closest key,
validation messages of one line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import SecretStr

from apps.settings import Settings, load_settings
from serving.settings import ServingScope
from trainsmart.errors import ConfigError
from trainsmart.settings import CoreSettings, Section, load
from trainsmart.settings.loading import OTHER_VARIABLES


class Limits(Section):
    level: int = 1
    """A nested key."""


class Stage(Section):
    port: int = 3000
    """A key of the section."""
    channels: Literal[1, 3] = 1
    """A literal of numbers."""
    token: SecretStr | None = None
    """A secret."""
    keys: list[SecretStr] = []
    """A list of secrets."""
    limits: Limits = Limits()
    """A nested section."""
    items: list[Limits] = []
    """A list of sections."""
    low: int | float | None = None
    """A union."""


class StageScope(CoreSettings):
    """A partial schema, like the service's: the shared keys and one section."""

    serving: Stage = Stage()


def write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "trainsmart.yaml"
    config.write_text(text, encoding="utf-8")
    return config


def refused(schema: type[CoreSettings], config: Path | None, **environ: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(schema, config, environ=environ)
    message = caught.value.message
    assert "\n" not in message
    return message


def test_defaults_need_no_external_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.data_dir == (tmp_path / ".trainsmart").resolve()
    assert settings.paths.state_db.suffix == ".db"
    assert settings.serving.cache_enabled
    assert settings.data.dataset == "fair"
    assert settings.config_file is None


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
    assert settings.config_file == config.resolve()
    assert load_settings(config, model_name="other").model_name == "other"
    monkeypatch.setenv("TRAINSMART_CONFIG", str(config))
    assert load_settings().serving.cache_size == 7


def test_bad_values_are_named(tmp_path: Path) -> None:
    config = tmp_path / "conf.yaml"
    config.write_text("data:\n  train_fraction: 0.9\n  validation_fraction: 0.2\n")
    with pytest.raises(ConfigError, match=r"^data: .*test split remains \[conf.yaml\]$"):
        load_settings(config)
    with pytest.raises(ConfigError, match=r"^serving.port: .*greater than or equal to 0"):
        load_settings(serving={"port": -1})


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        pytest.param(
            "serving: {prot: 3001}\n",
            "serving.prot: unknown setting (did you mean serving.port?) [trainsmart.yaml]",
            id="section",
        ),
        pytest.param(
            "monitoring: {windw_rows: 5}\n",
            "monitoring.windw_rows: unknown setting (did you mean monitoring.window_rows?) "
            "[trainsmart.yaml]",
            id="monitoring",
        ),
        pytest.param(
            "training: {compression: {objectiv: size}}\n",
            "training.compression.objectiv: unknown setting "
            "(did you mean training.compression.objective?) [trainsmart.yaml]",
            id="deeper",
        ),
        pytest.param(
            "modle_name: x\n",
            "modle_name: unknown setting (did you mean model_name?) [trainsmart.yaml]",
            id="top-level",
        ),
        pytest.param(
            "window_rows: 5\n",
            "window_rows: unknown setting (did you mean monitoring.window_rows?) [trainsmart.yaml]",
            id="key of a section written at the top",
        ),
        pytest.param(
            "training:\n  tuning:\n    search_space:\n"
            "      dropout: {type: float, low: 0, hgih: 0.5}\n",
            "training.tuning.search_space.dropout.hgih: unknown setting "
            "(did you mean training.tuning.search_space.dropout.high?) [trainsmart.yaml]",
            id="inside a mapping of sections",
        ),
    ],
)
def test_an_unknown_key_in_the_file_is_refused_with_the_closest_one(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    assert refused(Settings, write(tmp_path, yaml_text)) == expected


def test_an_unknown_key_in_a_list_of_sections_names_its_index(tmp_path: Path) -> None:
    message = refused(StageScope, write(tmp_path, "serving: {items: [{level: 2}, {levl: 3}]}"))
    assert message == (
        "serving.items[1].levl: unknown setting (did you mean serving.items[1].level?) "
        "[trainsmart.yaml]"
    )


def test_every_problem_is_reported_at_once_on_one_line(tmp_path: Path) -> None:
    config = write(tmp_path, "serving: {prot: 1, limits: {levle: 2}}\nmodel_nme: x\n")
    message = refused(StageScope, config, TRAINSMART_SERVING__PORTT="1")
    assert sorted(message.split("; ")) == [
        "model_nme: unknown setting (did you mean model_name?) [trainsmart.yaml]",
        "serving.limits.levle: unknown setting (did you mean serving.limits.level?) "
        "[trainsmart.yaml]",
        "serving.portt: unknown setting (did you mean serving.port?) [TRAINSMART_SERVING__PORTT]",
        "serving.prot: unknown setting (did you mean serving.port?) [trainsmart.yaml]",
    ]


def test_a_value_that_fits_no_member_of_a_union_is_one_problem(tmp_path: Path) -> None:
    message = refused(StageScope, write(tmp_path, "serving: {low: abc}"))
    assert message.count("serving.low:") == 1 and ".int" not in message
    assert "valid integer" in message and "valid number" in message


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        pytest.param(
            "TRAINSMART_SERVING__PROT",
            "serving.prot: unknown setting (did you mean serving.port?) [TRAINSMART_SERVING__PROT]",
            id="section",
        ),
        pytest.param(
            "TRAINSMART_TRAINING__COMPRESSION__OBJECTIV",
            "training.compression.objectiv: unknown setting "
            "(did you mean training.compression.objective?) "
            "[TRAINSMART_TRAINING__COMPRESSION__OBJECTIV]",
            id="deeper",
        ),
        pytest.param(
            "TRAINSMART_MODLE_NAME",
            "modle_name: unknown setting (did you mean model_name?) [TRAINSMART_MODLE_NAME]",
            id="top-level",
        ),
        pytest.param(
            "TRAINSMART_WEBHOOK_TOKN",
            "webhook_tokn: unknown setting (did you mean monitoring.webhook_token?) "
            "[TRAINSMART_WEBHOOK_TOKN]",
            id="key of a section without its section",
        ),
        pytest.param(
            "TRAINSMART_SERVING___PORT",
            "serving._port: unknown setting (did you mean serving.port?) "
            "[TRAINSMART_SERVING___PORT]",
            id="three underscores",
        ),
        pytest.param(
            "TRAINSMART_SERVING__",
            "TRAINSMART_SERVING__: names no setting ('__' separates nested keys)",
            id="empty key",
        ),
    ],
)
def test_a_variable_that_names_no_setting_is_refused_with_the_closest_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert refused(Settings, None, **{variable: "1"}) == expected
    monkeypatch.setenv(variable, "1")  # the process's own environment, as the CLI reads it
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.message == expected


def test_variables_that_are_not_settings_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path, "model_name: from-file\n")
    environ = {
        "TRAINSMART_CONFIG": str(config),
        "TRAINSMART_SECRETS_DIR": "",
        "TRAINSMART_ACTOR": "alice",
        "TRAINSMART_BENTO_MODEL": "fair-affairs:v1",
        "TRAINSMART_TEST_DATABASE": "sqlite",
        "OTHER_PREFIX_SERVING__PROT": "1",
    }
    assert {"TRAINSMART_CONFIG", "TRAINSMART_SECRETS_DIR", "TRAINSMART_ACTOR"} <= OTHER_VARIABLES
    settings = load(Settings, environ=environ)
    assert settings.model_name == "from-file"  # TRAINSMART_CONFIG of `environ` is the file
    assert settings.config_file == config.resolve()


def test_variables_are_parsed_for_their_setting(tmp_path: Path) -> None:
    environ = {
        "TRAINSMART_SERVING__PORT": "4100",
        "TRAINSMART_SERVING__CHANNELS": "3",  # Literal[1, 3]: the number 3
        "TRAINSMART_SERVING__KEYS": '["k1", "k2"]',  # a list: JSON
        "TRAINSMART_SERVING__LIMITS__LEVEL": "5",
    }
    settings = load(StageScope, environ=environ)
    assert settings.serving.port == 4100 and settings.serving.channels == 3
    assert [key.get_secret_value() for key in settings.serving.keys] == ["k1", "k2"]
    assert settings.serving.limits.level == 5
    real = load(Settings, environ={"TRAINSMART_DATA__IMAGE_CHANNELS": "3"})
    assert real.data.image_channels == 3


def test_a_list_that_is_not_json_is_refused_without_repeating_it(tmp_path: Path) -> None:
    message = refused(StageScope, None, TRAINSMART_SERVING__KEYS="secret-key-1,secret-key-2")
    assert message.startswith("serving.keys: expected JSON")
    assert message.endswith("[TRAINSMART_SERVING__KEYS]")
    assert "secret-key" not in message


def test_a_partial_schema_skips_the_sections_of_other_stages(tmp_path: Path) -> None:
    config = write(tmp_path, "serving: {port: 4000}\nmonitoring: {windw_rows: 5}\ntraining: 3\n")
    settings = load(StageScope, config, environ={"TRAINSMART_DATA__WHATEVER": "1"})
    assert settings.serving.port == 4000
    # the whole file's schema, as `trainsmart serve` checks it before starting the service
    assert "monitoring.windw_rows: unknown setting" in refused(Settings, config)
    # its own section is checked
    message = refused(StageScope, write(tmp_path, "serving: {prot: 1}\n"))
    assert message.startswith("serving.prot: unknown setting (did you mean serving.port?)")


def test_an_empty_section_is_no_settings(tmp_path: Path) -> None:
    settings = load(Settings, write(tmp_path, "serving:\n  # port: 3001\nmodel_name: m\n"))
    assert settings.serving.port == 3000 and settings.model_name == "m"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "must hold a mapping of settings (key: value), not a list"),
        ("serving: [\n", "cannot be read as YAML"),
        ("serving: 5\n", "serving: Input should be a valid dictionary"),
    ],
)
def test_a_file_that_is_not_a_mapping_of_settings_is_one_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in refused(Settings, write(tmp_path, text))


def test_a_missing_settings_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    message = refused(Settings, None, TRAINSMART_CONFIG=str(missing))
    assert message == (
        f"settings file {missing} (from TRAINSMART_CONFIG) does not exist; "
        "pass an existing YAML file"
    )


def test_a_bad_database_url_does_not_print_its_password(tmp_path: Path) -> None:
    message = refused(Settings, None, TRAINSMART_DATABASE_URL="mysql://user:hunter2@host/db")
    assert message.startswith("database_url: database_url must start with sqlite:///")
    assert "hunter2" not in message


def test_a_scope_keeps_the_file_it_came_from(tmp_path: Path) -> None:
    config = write(tmp_path, "serving: {port: 4000}\n")
    settings = load(Settings, config, environ={})
    scope = settings.serving_scope()
    assert scope.serving.port == 4000 and scope.config_file == config.resolve()
    assert scope.data_dir == settings.data_dir


def test_the_service_scope_checks_its_section_and_leaves_the_others(tmp_path: Path) -> None:
    config = write(tmp_path, "serving: {port: 4000}\nmonitoring: {windw_rows: 5}\n")
    assert load(ServingScope, config, environ={}).serving.port == 4000
    message = refused(ServingScope, config, TRAINSMART_SERVING__PROT="1")
    assert message == (
        "serving.prot: unknown setting (did you mean serving.port?) [TRAINSMART_SERVING__PROT]"
    )


KUBERNETES_LINKS = {
    "TRAINSMART_SERVICE_HOST": "10.0.0.7",
    "TRAINSMART_SERVICE_PORT": "3000",
    "TRAINSMART_SERVICE_PORT_HTTP": "3000",
    "TRAINSMART_PORT": "tcp://10.0.0.7:3000",
    "TRAINSMART_PORT_3000_TCP": "tcp://10.0.0.7:3000",
    "TRAINSMART_PORT_3000_TCP_PROTO": "tcp",
    "TRAINSMART_PORT_3000_TCP_PORT": "3000",
    "TRAINSMART_PORT_3000_TCP_ADDR": "10.0.0.7",
    "TRAINSMART_MONITOR_SERVICE_HOST": "10.0.0.8",
    "TRAINSMART_MONITOR_PORT_9108_TCP_ADDR": "10.0.0.8",
}


def test_kubernetes_service_links_are_not_taken_for_settings(tmp_path: Path) -> None:
    """A pod gets these for the Services named trainsmart and trainsmart-monitor (unless it
    sets enableServiceLinks: false): they must not stop it, and real settings that end in
    _PORT still count."""
    environ = {**KUBERNETES_LINKS, "TRAINSMART_SERVING__PORT": "3100"}
    settings = load(Settings, None, environ=environ, data_dir=tmp_path)
    assert settings.serving.port == 3100
    refused_typo = {**KUBERNETES_LINKS, "TRAINSMART_SERVING__PROT": "3100"}
    with pytest.raises(ConfigError, match=r"serving\.prot: unknown setting"):
        load(Settings, None, environ=refused_typo, data_dir=tmp_path)


@pytest.mark.parametrize("variable", ["TRAINSMART_DATA_DIR", "TRAINSMART_MODEL_STORE"])
def test_an_empty_folder_setting_is_refused_not_taken_for_the_working_directory(
    tmp_path: Path, variable: str
) -> None:
    with pytest.raises(ConfigError, match=r"is empty; name a folder"):
        load(Settings, None, environ={variable: ""})
