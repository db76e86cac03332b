"""``trainsmart gpu calibrate``: one clear line without CUDA; with CUDA (simulated here, see
tests/cuda.py: CUDA sessions cannot exist on this machine) a profile the service applies."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from apps.cli.main import cli
from apps.gpu import calibrate, markdown
from apps.settings import Settings, load_settings
from serving.gpu_profile import PRECISIONS, profile_path, read_profile
from serving.providers import GpuSetup
from serving.runtime import load_model
from tests.conftest import BundleFactory
from tests.cuda import OFFERED, Factory
from trainsmart.registry import Registry

BATCHES = (1, 64)


@pytest.mark.parametrize("command", [["gpu"], ["gpu", "calibrate"]])
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_without_cuda_it_says_so_in_one_line_and_exits_1(
    make_bundle: BundleFactory, settings: Settings, tmp_path: Path
) -> None:
    make_bundle()
    config = tmp_path / "conf.yaml"
    config.write_text(f"data_dir: {settings.data_dir}\nmodel_name: fair\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "gpu", "calibrate"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: trainsmart gpu calibrate measures the GPU, but CUDA is ")
    assert "not available to ONNX Runtime here" in lines[0]
    assert "install onnxruntime-gpu" in lines[0] and "docs/gpu.md" in lines[0]
    assert not settings.paths.gpu.exists()


def test_calibrate_writes_a_profile_the_service_applies(
    make_bundle: BundleFactory, settings: Settings, registry: Registry
) -> None:
    version = make_bundle()
    factory = Factory()
    setup = GpuSetup(settings.paths.gpu, None, OFFERED, factory)  # as serving/service.py
    profile = calibrate(settings, registry, None, repeats=2, batches=BATCHES, setup=setup)
    assert (profile.model, profile.version, profile.source) == ("fair", version, "model.onnx")
    assert read_profile(settings.paths.gpu, "fair", version) == profile
    rows = {r["name"]: r for r in profile.precisions}
    assert set(rows) == set(PRECISIONS)
    assert {p[0][1]["use_tf32"] for p in (s.providers for s in factory.cuda)} == {"0", "1"}
    # the stand-in runs each graph on the CPU: fp32 and tf32 are the CPU graph itself
    assert rows["fp32"]["max_abs_diff"] == 0.0 and rows["tf32"]["max_abs_diff"] == 0.0
    assert rows["fp32"]["metric_drop"] == 0.0  # on the Fair test split, labelled
    assert "test rows of data.dataset 'fair'" in profile.reason
    assert set(profile.cpu_ms) == set(BATCHES) and profile.batches == list(BATCHES)
    text = "\n".join(markdown(profile))
    assert "| CPU |" in text and "| CUDA tf32 |" in text and "| fp32 | 0.0001 |" in text

    model = load_model(registry, "fair", version, settings.serving, setup)
    if profile.min_rows is None:  # CPU against the CPU in disguise: either can win
        assert model.cuda is None
    else:
        assert model.cuda is not None
        assert (model.cuda.min_rows, model.cuda.precision) == (profile.min_rows, profile.precision)


def test_calibrate_without_the_test_split_measures_unlabelled_rows_and_keeps_fp32(
    make_bundle: BundleFactory, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    version = make_bundle()
    elsewhere = load_settings(
        data_dir=settings.data_dir,
        model_name="fair",
        data={
            "dataset": "file",
            "path": str(tmp_path / "gone.csv"),
            "target": "y",
            "features": [{"name": "age", "kind": "numeric"}],
        },
    )
    setup = GpuSetup(available=OFFERED, open_session=Factory())
    profile = calibrate(elsewhere, registry, version, repeats=2, batches=BATCHES, setup=setup)
    assert profile.precision == "fp32"
    assert "unlabelled reference rows" in profile.reason
    statuses = {r["name"]: r["status"] for r in profile.precisions}
    assert statuses["tf32"] == "rejected: no test metric"
    assert profile_path(settings.paths.gpu, "fair", version).is_file()
