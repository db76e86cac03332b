"""bench/gpu_train.py: the CPU half at tiny size (both paths, and as a script); the CUDA
half where torch sees a GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.gpu_train import ROOT, Run, conclusion, load_data, markdown, measure, save_data

NO_GPU = "no GPU here: torch.cuda.is_available() is False (the lead runs it on a GPU machine)"


@pytest.fixture(scope="module")
def npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_data(tmp_path_factory.mktemp("gpu-train") / "digits.npz")


def test_save_data_writes_the_digits_arrays(npz: Path) -> None:
    with np.load(npz) as data:
        assert data["x"].shape == (1797, 64) and data["x"].dtype == np.float32
        assert sorted(set(data["y"].tolist())) == list(range(10))
    split = load_data(npz, rows=200)
    assert sum(len(split[k]) for k in ("y_train", "y_val", "y_test")) == 200


@pytest.mark.parametrize("path", ["trainsmart", "standalone"])
def test_cpu_half_trains_and_reports(npz: Path, path: str) -> None:
    data = load_data(npz, rows=240)
    runs, notes = measure(data, ["cpu"], epochs=1, path=path)
    assert [(r.device, r.path, r.epochs) for r in runs] == [("cpu", path, 1)]
    assert runs[0].seconds > 0 and 0.0 <= runs[0].accuracy <= 1.0
    text = "\n".join(markdown(runs, notes, {"train": 168}))
    assert f"Path: **{path}**" in text
    assert "| device | path | epochs | train s | s per epoch | test accuracy |" in text
    assert "| cpu | " in text


def test_runs_as_a_standalone_script(npz: Path) -> None:
    """`python bench/gpu_train.py` (bench/ first on sys.path must not shadow http)."""
    command = [sys.executable, "bench/gpu_train.py", "--data", str(npz), "--rows", "160"]
    command += ["--epochs", "1", "--devices", "cpu,cuda", "--path", "standalone"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "| cpu | standalone | 1 |" in done.stdout
    if not torch.cuda.is_available():
        assert "CUDA: not measured, torch.cuda.is_available() is False here." in done.stdout


def test_conclusion_is_computed_from_the_figures() -> None:
    slow = [Run("cpu", "standalone", 2, 4.0, 0.95), Run("cuda", "standalone", 2, 1.0, 0.96)]
    assert conclusion(slow).startswith("CUDA trained 4.00x faster than the CPU")
    assert "+1.00 points" in conclusion(slow)
    fast = [Run("cpu", "standalone", 2, 1.0, 0.95), Run("cuda", "standalone", 2, 2.0, 0.95)]
    assert "2.00x slower" in conclusion(fast)
    assert conclusion(slow[:1]) == "Only one device measured: no comparison."


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_cuda_half_names_the_gpu(npz: Path) -> None:
    runs, notes = measure(load_data(npz, rows=240), ["cuda"], epochs=1)
    assert runs[0].device == "cuda"
    assert any(torch.cuda.get_device_name(0) in note for note in notes)
