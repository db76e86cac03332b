"""``trainsmart settings``: the effective settings, secrets masked; ``--schema``: the JSON
Schema of trainsmart.yaml that editors validate the file with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from apps.cli.main import cli
from tests.services import require_module

ROOT = Path(__file__).resolve().parents[3]


def schema_of_cli() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["settings", "--schema"])
    assert result.exit_code == 0, result.output
    schema: dict[str, Any] = json.loads(result.stdout)
    return schema


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or the definition its ``$ref`` points at."""
    ref = node.get("$ref")
    if ref is None:
        return node
    found: dict[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
    return found


def test_settings_prints_the_effective_settings_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "trainsmart.yaml"
    config.write_text("serving: {port: 4000}\n", encoding="utf-8")
    env = {"TRAINSMART_SERVING__ADMIN_TOKEN": "very-secret", "TRAINSMART_MODEL_NAME": "m"}
    result = CliRunner().invoke(cli, ["settings"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# settings file: {config.resolve()}\n")
    shown = yaml.safe_load(result.stdout)
    assert shown["serving"]["port"] == 4000 and shown["model_name"] == "m"
    assert shown["serving"]["admin_token"] == "**********"
    assert "very-secret" not in result.stdout


def test_settings_hides_the_password_of_a_plain_url_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trainsmart.yaml").write_text(
        "serving: {cache_backend: redis, redis_url: 'redis://app:hunter2@cache:6379/0'}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["settings"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["serving"]["redis_url"] == "redis://app:***@cache:6379/0"
    assert "hunter2" not in result.stdout


def test_schema_describes_every_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trainsmart.yaml").write_text("modle_name: x\n", encoding="utf-8")
    schema = schema_of_cli()  # a broken settings file does not stop it
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "trainsmart.yaml" and schema["additionalProperties"] is False
    serving = resolve(schema, schema["properties"]["serving"])
    assert serving["additionalProperties"] is False
    port = serving["properties"]["port"]
    assert port["type"] == "integer" and port["default"] == 3000
    assert port["description"] == "Port `trainsmart serve` binds."
    assert "TRAINSMART_SECRETS_DIR" in schema["properties"]["database_url"]["description"]
    # secrets are strings
    token = serving["properties"]["admin_token"]["anyOf"]
    assert {"type": "string", "format": "password", "writeOnly": True} in token
    assert serving["properties"]["api_keys"]["items"]["type"] == "string"
    # every key of every section has its docstring as description (a section without one
    # shows its class's)
    missing = [
        f"{name}.{key}"
        for name, definition in schema["$defs"].items()
        for key, prop in definition.get("properties", {}).items()
        if not (prop.get("description") or resolve(schema, prop).get("description"))
    ]
    assert not missing, missing


@pytest.mark.parametrize(
    "config",
    [
        *sorted((ROOT / "configs").glob("*.yaml")),
        ROOT / "deploy" / "kubernetes" / "configmap.yaml",
    ],
    ids=lambda path: path.name,
)
def test_the_shipped_configs_pass_the_schema_and_a_typo_does_not(config: Path) -> None:
    jsonschema = require_module("jsonschema", pip="pip install -e '.[dev]'")
    schema = schema_of_cli()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    if document.get("kind") == "ConfigMap":
        document = yaml.safe_load(document["data"]["trainsmart.yaml"])
    assert list(validator.iter_errors(document)) == []
    typo = {**document, "serving": {**document.get("serving", {}), "prot": 3001}}
    errors = list(validator.iter_errors(typo))
    assert len(errors) == 1 and "'prot' was unexpected" in errors[0].message
    assert list(errors[0].absolute_path) == ["serving"]
