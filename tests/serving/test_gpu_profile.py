"""The GPU measurement file: precisions, parity tolerances, where it lives, how it is read."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from serving.gpu_profile import (
    PARITY_TOLERANCE,
    PRECISIONS,
    GpuProfile,
    cuda_options,
    profile_path,
    read_profile,
    within_parity,
    write_profile,
)
from trainsmart.errors import InvalidInput


def profile(**changes: object) -> GpuProfile:
    fields: dict[str, object] = {
        "model": "fair",
        "version": "v2",
        "source": "model.onnx",
        "min_rows": 1024,
        "precision": "tf32",
        "cpu_ms": {1: 0.02, 8192: 6.5},
    }
    fields.update(changes)
    return GpuProfile.model_validate(fields)


def test_tf32_only_for_tf32() -> None:
    assert cuda_options("fp32") == {"use_tf32": "0"}
    assert cuda_options("tf32") == {"use_tf32": "1"}
    assert cuda_options("fp16") == {"use_tf32": "0"}
    with pytest.raises(ValueError, match="unknown GPU precision 'bf16'"):
        cuda_options("bf16")


def test_each_precision_has_a_stated_tolerance_tightest_for_exact_fp32() -> None:
    assert set(PARITY_TOLERANCE) == set(PRECISIONS)
    assert PARITY_TOLERANCE["fp32"] == 1e-4
    assert PARITY_TOLERANCE["fp32"] < PARITY_TOLERANCE["tf32"] < PARITY_TOLERANCE["fp16"]
    # issue J's measurements: TF32 on our bundles 1.1e-3, fp16 on ResNet-18 1.2e-3
    assert within_parity("tf32", 1.1e-3) and not within_parity("fp32", 1.1e-3)
    assert within_parity("fp16", 1.2e-3)
    assert not within_parity("fp16", math.nan)


def test_written_then_read(tmp_path: Path) -> None:
    path = write_profile(tmp_path, profile())
    assert path == tmp_path / "fair" / "v2.json"
    read = read_profile(tmp_path, "fair", "v2")
    assert read == profile()
    assert read is not None and read.cpu_ms == {1: 0.02, 8192: 6.5}  # int keys again
    assert read_profile(tmp_path, "fair", "v3") is None
    assert read_profile(None, "fair", "v2") is None


def test_an_unreadable_or_foreign_file_is_ignored_with_a_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = profile_path(tmp_path, "fair", "v2")
    path.parent.mkdir(parents=True)
    path.write_text('{"model": "fair"')
    assert read_profile(tmp_path, "fair", "v2") is None
    assert "cannot be read" in caplog.text and "serving exact fp32" in caplog.text
    path.write_text(profile(version="v9").model_dump_json())
    assert read_profile(tmp_path, "fair", "v2") is None
    assert "is of fair:v9; ignored" in caplog.text


def test_names_cannot_leave_the_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        profile_path(tmp_path, "../etc", "v1")
