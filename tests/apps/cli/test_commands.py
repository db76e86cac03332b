"""The command line: help everywhere, registry commands on a real store."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from apps.cli.main import cli
from apps.settings import Settings
from tests.conftest import BundleFactory

COMMANDS = [
    [],
    ["train"],
    ["serve"],
    ["monitor"],
    ["monitor", "render-job"],
    ["retrain"],
    ["demo"],
    ["jobs"],
    ["models"],
    ["models", "list"],
    ["models", "show"],
    ["models", "promote"],
    ["models", "rollback"],
    ["models", "audit"],
    ["models", "candidate"],
    ["settings"],
    ["tune"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "trainsmart")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--help" in result.output


@pytest.fixture
def config(settings: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(f"data_dir: {settings.data_dir}\nmodel_name: fair\n")
    return path


def test_promote_rollback_and_audit_from_the_cli(
    make_bundle: BundleFactory, config: Path, settings: Settings
) -> None:
    make_bundle(promote=False)
    make_bundle(promote=False)
    run = CliRunner().invoke
    ok = run(cli, ["--config", str(config), "models", "promote", "fair", "v1", "--reason", "go"])
    assert ok.exit_code == 0, ok.output
    assert "none -> v1" in ok.output
    assert run(cli, ["--config", str(config), "models", "promote", "fair", "v2"]).exit_code == 0
    back = run(cli, ["--config", str(config), "models", "rollback", "fair", "--reason", "bad"])
    assert back.exit_code == 0 and "v2 -> v1" in back.output
    listing = run(cli, ["--config", str(config), "models", "list"])
    assert listing.exit_code == 0 and "v2" in listing.output
    audit = run(cli, ["--config", str(config), "models", "audit", "fair"])
    assert "rollback" in audit.output and "bad" in audit.output
    missing = run(cli, ["--config", str(config), "models", "promote", "fair", "v7"])
    assert missing.exit_code == 1
    assert "not in the registry" in missing.output
    none_left = run(cli, ["--config", str(config), "models", "rollback", "fair"])
    assert none_left.exit_code == 1 and "no earlier production version" in none_left.output


def test_settings_prints_the_effective_values(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    monkeypatch.setenv("TRAINSMART_SERVING__PORT", "3999")
    result = CliRunner().invoke(cli, ["--config", str(config), "settings"])
    assert result.exit_code == 0, result.output
    assert str(config) in result.output.splitlines()[0]
    shown = yaml.safe_load(result.output)
    assert shown["serving"]["port"] == 3999 and shown["model_name"] == "fair"
