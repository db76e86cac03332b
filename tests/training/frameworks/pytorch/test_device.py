"""``training.device``: where PyTorch trains. The CPU path stays what it was (same weights
for the same seed); CUDA runs only where torch sees a GPU."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from training.encoding import build_contract, encode_frame
from training.frameworks.pytorch.device import (
    CUBLAS_WORKSPACE,
    deterministic,
    resolve_device,
)
from training.frameworks.pytorch.trainer import fit
from training.preprocess import Preprocessor
from training.settings import FeatureConfig, TrainingSettings
from trainsmart.errors import TrainingError

NO_GPU = "no GPU here: torch.cuda.is_available() is False (runs on a CUDA machine)"


def test_auto_takes_cuda_only_when_torch_sees_it() -> None:
    assert resolve_device("auto", cuda_available=False) == torch.device("cpu")
    assert resolve_device("auto", cuda_available=True) == torch.device("cuda")
    assert resolve_device("cpu", cuda_available=True) == torch.device("cpu")
    assert resolve_device("cuda", cuda_available=True) == torch.device("cuda")
    with pytest.raises(TrainingError, match=r"training\.device is 'cuda' but torch sees no GPU"):
        resolve_device("cuda", cuda_available=False)


def test_setting_is_checked() -> None:
    assert TrainingSettings().device == "auto"
    with pytest.raises(ValidationError):
        TrainingSettings(device="tpu")


def test_deterministic_mode_is_restored_and_cublas_set_only_for_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic(1, torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    assert torch.are_deterministic_algorithms_enabled() == before
    with deterministic(1, torch.device("cuda")):  # sets the mode only; no CUDA call is made
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    assert torch.are_deterministic_algorithms_enabled() == before
    assert not torch.is_deterministic_algorithms_warn_only_enabled()


def _toy() -> tuple[np.ndarray, np.ndarray, Preprocessor, object]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=list("abc"))
    y = (frame["a"] - frame["b"] > 0).astype(np.int64).to_numpy()
    features = [FeatureConfig(name=c) for c in frame.columns]
    contract = build_contract(frame.iloc[:150], features, ["0", "1"], nullable=True)
    x = encode_frame(frame, contract)
    return x, y, Preprocessor.fit(x[:150], contract), contract


def _weights(device: str) -> dict[str, torch.Tensor]:
    x, y, pre, contract = _toy()
    settings = TrainingSettings(  # no dropout: CUDA draws other masks than the CPU
        hidden_sizes=[8], max_epochs=3, batch_size=32, dropout=0.0, device=device
    )
    result = fit(x[:150], y[:150], x[150:], y[150:], pre, contract, settings, progress=False)  # type: ignore[arg-type]
    assert next(result.model.parameters()).device.type == "cpu"  # back for export
    return result.model.state_dict()


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto is CUDA on a GPU machine")
def test_auto_on_a_cpu_machine_gives_the_cpu_weights() -> None:
    auto, cpu = _weights("auto"), _weights("cpu")
    for key in cpu:
        torch.testing.assert_close(auto[key], cpu[key], rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_cuda_training_is_close_to_the_cpu_one() -> None:
    """Same initialisation and shuffling; only the kernels' rounding differs."""
    cuda, cpu = _weights("cuda"), _weights("cpu")
    for key in cpu:
        torch.testing.assert_close(cuda[key], cpu[key], rtol=1e-3, atol=1e-3)
