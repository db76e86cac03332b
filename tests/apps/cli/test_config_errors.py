"""A settings error is one line, ``error: ...``, and exit status 2, for every command, before
any heavy import or child process; the real command line runs in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from apps.cli.context import CONFIG_EXIT, TrainsmartGroup
from apps.cli.main import cli
from trainsmart.settings import Section

ROOT = Path(__file__).resolve().parents[3]
TYPO = "modle_name: unknown setting (did you mean model_name?) [trainsmart.yaml]"


def clean_environment(**extra: str) -> dict[str, str]:
    """Ours without any TRAINSMART_ variable, with the project importable from anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRAINSMART_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["BENTOML_DO_NOT_TRACK"] = "true"
    return {**env, **extra}


def trainsmart(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m apps.cli.main ARGS`` in ``cwd`` (no ./trainsmart.yaml but the test's)."""
    return subprocess.run(
        [sys.executable, "-m", "apps.cli.main", *args],
        cwd=cwd,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def misspelt(tmp_path: Path) -> Path:
    config = tmp_path / "trainsmart.yaml"
    config.write_text("modle_name: x\n", encoding="utf-8")
    return config


@pytest.mark.parametrize(
    "command",
    [["train"], ["serve"], ["monitor"], ["settings"]],
    ids=lambda command: " ".join(command),
)
def test_a_misspelt_key_is_one_line_and_exit_2(misspelt: Path, command: list[str]) -> None:
    done = trainsmart(misspelt.parent, "--config", str(misspelt), *command)
    assert done.returncode == CONFIG_EXIT, done.stderr
    assert one_line(done.stderr) == f"error: {TYPO}"
    assert done.stdout == ""


def test_the_default_file_and_a_variable_are_checked_the_same_way(misspelt: Path) -> None:
    done = trainsmart(misspelt.parent, "serve")  # ./trainsmart.yaml
    assert done.returncode == CONFIG_EXIT and one_line(done.stderr) == f"error: {TYPO}"
    misspelt.unlink()
    done = trainsmart(misspelt.parent, "monitor", TRAINSMART_SERVING__PROT="3001")
    assert done.returncode == CONFIG_EXIT
    assert one_line(done.stderr) == (
        "error: serving.prot: unknown setting (did you mean serving.port?) "
        "[TRAINSMART_SERVING__PROT]"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--no-compress"],
        ["serve", "--port", "1"],
        ["bento"],
        ["retrain"],
        ["monitor", "--once"],
        ["monitor", "report"],
        ["monitor", "render-job"],
        ["settings"],
        ["models", "list"],
        ["jobs"],
        ["tune", "--trials", "1"],
    ],
    ids=lambda command: " ".join(command),
)
def test_every_command_reports_a_settings_error_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "trainsmart.yaml"
    config.write_text("monitoring: {windw_rows: 5}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), *command])
    assert result.exit_code == CONFIG_EXIT, result.output
    assert one_line(result.stderr) == (
        "error: monitoring.windw_rows: unknown setting "
        "(did you mean monitoring.window_rows?) [trainsmart.yaml]"
    )


def test_help_needs_no_valid_settings(misspelt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(misspelt.parent)
    for command in (["train"], ["monitor"], ["settings"]):
        result = CliRunner().invoke(cli, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_a_validation_error_raised_in_a_command_is_one_line_and_exit_2() -> None:
    class Part(Section):
        size: int = 1

    @click.group(cls=TrainsmartGroup)
    def group() -> None:
        """A tiny command line with trainsmart's error handling."""

    @group.command()
    def grow() -> None:
        Part.model_validate({"size": "big", "colour": "red"})

    result = CliRunner().invoke(group, ["grow"])
    assert result.exit_code == CONFIG_EXIT
    line = one_line(result.stderr)
    assert line.startswith("error: size: Input should be a valid integer")
    assert "colour: unknown setting" in line
