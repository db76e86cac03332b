"""The candidate pointer in the registry, its CLI, and the shadow table's comparison query."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from apps.cli.main import cli
from apps.settings import Settings
from tests.conftest import BundleFactory
from trainsmart.errors import ModelNotFound, RegistryError
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, ShadowLog, agreement


def test_candidate_is_set_switched_cleared_and_audited(
    make_bundle: BundleFactory, registry: Registry
) -> None:
    v1 = make_bundle()
    v2 = make_bundle(promote=False)
    v3 = make_bundle(promote=False)
    assert registry.candidate("fair") is None
    chosen = registry.set_candidate("fair", v2, shadow=False, actor="tester", reason="try v2")
    assert (chosen.version, chosen.shadow) == (v2, False)
    assert registry.candidate("fair") == chosen
    assert registry.set_shadow("fair", True, actor="tester", reason="mirror").shadow is True
    registry.set_candidate("fair", v3, shadow=True, actor="tester", reason="try v3")
    stored = registry.candidate("fair")
    assert stored is not None and (stored.version, stored.shadow) == (v3, True)
    assert registry.clear_candidate("fair", actor="tester", reason="done") == v3
    assert registry.candidate("fair") is None
    assert registry.clear_candidate("fair", reason="again") is None  # no-op, not audited
    assert registry.production("fair") == v1  # production never moved

    entries = [(e.action, e.from_version, e.to_version) for e in reversed(registry.audit("fair"))]
    assert entries[1:] == [
        ("candidate", None, v2),
        ("shadow-on", v2, v2),
        ("candidate", v2, v3),
        ("candidate-clear", v3, None),
    ]
    assert registry.audit("fair")[1].reason == "try v3 (shadow on)"
    assert {e.actor for e in registry.audit("fair")[:4]} == {"tester"}


def test_candidate_refusals_name_what_to_do(make_bundle: BundleFactory, registry: Registry) -> None:
    v1 = make_bundle()
    with pytest.raises(RegistryError, match="production version; a candidate must be another"):
        registry.set_candidate("fair", v1, shadow=False, reason="x")
    with pytest.raises(ModelNotFound, match="'trainsmart models list'"):
        registry.set_candidate("fair", "v9", shadow=False, reason="x")
    with pytest.raises(RegistryError, match="no candidate to shadow; set one first"):
        registry.set_shadow("fair", True, reason="x")
    assert [e.action for e in registry.audit("fair")] == ["promote"]


def test_promoting_the_candidate_ends_its_candidacy(
    make_bundle: BundleFactory, registry: Registry
) -> None:
    make_bundle()
    v2 = make_bundle(promote=False)
    registry.set_candidate("fair", v2, shadow=True, reason="try")
    registry.promote("fair", v2, reason="it won")
    assert registry.production("fair") == v2 and registry.candidate("fair") is None
    last = registry.audit("fair")[0]
    assert (last.action, last.from_version, last.reason) == ("candidate-clear", v2, "promoted")


@pytest.fixture
def config(settings: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(f"data_dir: {settings.data_dir}\nmodel_name: fair\n")
    return path


def test_cli_candidate_commands_are_audited(
    make_bundle: BundleFactory, config: Path, registry: Registry
) -> None:
    make_bundle()
    v2 = make_bundle(promote=False)

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--config", str(config), "models", "candidate", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "fair: no candidate (production v1)" in run("fair")
    assert f"candidate {v2} (shadow on)" in run("fair", v2, "--shadow", "--reason", "canary")
    assert f"candidate {v2} (shadow on), set" in run("fair")
    wide = {"COLUMNS": "200"}  # rich tables wrap cells at the default 80 columns
    listing = CliRunner().invoke(cli, ["--config", str(config), "models", "list", "fair"], env=wide)
    assert "shadow" in listing.output, listing.output
    assert f"candidate {v2} (shadow off)" in run("fair", "--no-shadow")
    assert f"candidate {v2} cleared" in run("fair", "--clear")
    assert "no candidate" in run("fair", "--clear")
    actions = [(e.action, e.reason) for e in registry.audit("fair")][:3]
    assert actions == [
        ("candidate-clear", "manual candidate"),
        ("shadow-off", "manual candidate"),
        ("candidate", "canary (shadow on)"),
    ]
    audit = CliRunner().invoke(cli, ["--config", str(config), "models", "audit", "fair"], env=wide)
    assert "candidate-clear" in audit.output and "shadow-off" in audit.output

    usage = CliRunner().invoke(
        cli, ["--config", str(config), "models", "candidate", "fair", v2, "--clear"]
    )
    assert usage.exit_code == 2 and "--clear takes no VERSION" in usage.output
    refused = CliRunner().invoke(
        cli, ["--config", str(config), "models", "candidate", "fair", "v1"]
    )
    assert refused.exit_code == 1 and "is the production version" in refused.output


def test_settings_command_masks_tokens(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINSMART_SERVING__ADMIN_TOKEN", "admin-token-do-not-print")
    monkeypatch.setenv("TRAINSMART_SERVING__API_KEYS", '["key-do-not-print", "other-key"]')
    result = CliRunner().invoke(cli, ["--config", str(config), "settings"])
    assert result.exit_code == 0, result.output
    assert "do-not-print" not in result.output and "other-key" not in result.output
    assert "admin_token: '**********'" in result.output
    assert "api_keys:\n  - '**********'\n  - '**********'" in result.output


def test_shadow_log_compare_pairs_rows_with_the_champion(db: Database) -> None:
    inputs, shadow = InputLog(db), ShadowLog(db)
    rows = [{"age": 1.0}, {"age": 2.0}, {"age": 3.0}]
    champion = [{"class": "0"}, {"class": "1"}, {"class": "1"}]
    inputs.append("req-1", "fair", "v1", rows, champion, [False, True, False])
    shadow.append("req-1", "fair", "v2", [{"class": "0"}, {"class": "0"}, {"class": "1"}])
    inputs.append("req-2", "fair", "v1", rows[:1], champion[:1], [False])  # not shadowed
    pairs = shadow.compare("fair")
    assert [(p.request_id, p.row_index) for p in pairs] == [("req-1", i) for i in range(3)]
    assert {(p.champion_version, p.candidate_version) for p in pairs} == {("v1", "v2")}
    assert [p.agree for p in pairs] == [True, False, True]
    assert agreement(pairs) == pytest.approx(2 / 3)
    assert shadow.count("fair", "v2") == 3 and shadow.compare("fair", version="v9") == []
    assert [p.row_index for p in shadow.compare("fair", limit=2)] == [1, 2]  # most recent
    shadow.append("req-2", "fair", "v2", [{"value": 1.5}])
    inputs.append("req-3", "fair", "v1", rows[:1], [{"value": 1.0}], [False])
    shadow.append("req-3", "fair", "v2", [{"value": 1.25}])
    regression = shadow.compare("fair")[-1]
    assert regression.agree is None and regression.difference == pytest.approx(0.25)
