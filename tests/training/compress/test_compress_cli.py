"""`trainsmart train --compress` on the shipped tabular and image defaults: the variant
table is recorded, the chosen variant is registered, and the service loads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from apps.cli.main import cli
from apps.settings import load_settings
from serving.runtime import load_model
from trainsmart.registry import Registry
from trainsmart.state import open_database

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("config", "model"), [(None, "fair-affairs"), (ROOT / "configs" / "digits.yaml", "digits")]
)
def test_train_compress_registers_the_chosen_variant_and_it_serves(
    tmp_path: Path, config: Path | None, model: str
) -> None:
    args = (["--config", str(config)] if config else []) + ["train", "--compress", "--quiet"]
    env = {"TRAINSMART_DATA_DIR": str(tmp_path / "data"), "TRAINSMART_TRAINING__MAX_EPOCHS": "8"}
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert "serving " in result.output  # the chosen variant and why
    settings = load_settings(config, data_dir=tmp_path / "data")
    registry = Registry(settings.paths.model_store, open_database(settings))
    bundle = registry.get(model, "v1")
    selection = bundle.metrics()["variants"]["selection"]  # type: ignore[index]
    table = bundle.metrics()["variants"]["table"]  # type: ignore[index]
    names = {row["name"] for row in table}  # type: ignore[index]
    assert {"fp32", "int8_static_minmax"} <= names, names
    assert ("int8_dynamic" in names) == (model == "fair-affairs")  # never for a conv net
    assert bundle.lineage().serving_variant == selection["chosen"]
    assert "Compressed variants" in bundle.report_path.read_text()
    served = load_model(registry, model, "v1", settings.serving)
    assert served.version == "v1"
