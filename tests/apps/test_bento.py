"""`trainsmart bento`: a real `bentoml build` whose Bento carries the production model and
serves it with `bentoml serve TAG` on a fresh data directory."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from apps.bento import build_bento
from apps.launch import child_env, free_port, start_bento, wait_http
from apps.settings import Settings
from tests.conftest import BundleFactory, fair_row
from trainsmart.errors import RegistryError
from trainsmart.registry import Registry
from trainsmart.registry.bento import BENTO_MODEL_ENV, carried_model
from trainsmart.state import SqliteDatabase

pytestmark = pytest.mark.server


@pytest.mark.sqlite  # a fresh data dir is fresh state only when the state lives in it
def test_the_bento_carries_and_serves_the_production_model(
    settings: Settings, registry: Registry, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    make_bundle(bias=-1.0)
    version = make_bundle(bias=1.0)  # v2 is production
    tag = build_bento(settings, registry)
    assert tag == f"trainsmart:fair-{version}"
    home = settings.paths.model_store.parent
    bento_yaml = yaml.safe_load(
        (home / "bentos" / "trainsmart" / f"fair-{version}" / "bento.yaml").read_text()
    )
    assert [m["tag"] for m in bento_yaml["models"]] == [f"fair:{version}"]

    served_dir = tmp_path / "fresh"  # no registry, no production version yet
    env = child_env(None, BENTOML_HOME=str(home), TRAINSMART_DATA_DIR=str(served_dir))
    env.pop("TRAINSMART_MODEL_NAME", None)
    bento = start_bento(env, free_port(), tmp_path / "bento.log", tag)
    try:
        wait_http(bento, "/readyz", timeout_s=90)
        answer = httpx.post(bento.url + "/predict", json={"instances": [fair_row()]}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == version and answer.json()["model"] == "fair"
    finally:
        bento.stop()
    seeded = Registry(served_dir / "models", SqliteDatabase(served_dir / "trainsmart.db"))
    assert seeded.production("fair") == version
    assert seeded.audit("fair")[-1].actor == "bento"


def test_a_model_without_production_version_cannot_be_built(
    settings: Settings, registry: Registry
) -> None:
    with pytest.raises(RegistryError, match="no production version"):
        build_bento(settings, registry)


def test_the_carried_model_comes_from_the_environment_or_bento_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BENTO_MODEL_ENV, raising=False)
    assert carried_model(tmp_path / "bento.yaml") == ""
    (tmp_path / "bento.yaml").write_text(
        yaml.safe_dump({"envs": [{"name": BENTO_MODEL_ENV, "value": "fair:v3"}]})
    )
    assert carried_model(tmp_path / "bento.yaml") == "fair:v3"
    monkeypatch.setenv(BENTO_MODEL_ENV, "fair:v4")
    assert carried_model(tmp_path / "bento.yaml") == "fair:v4"
