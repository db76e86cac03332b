"""Where PyTorch trains: ``training.device`` resolved to a :class:`torch.device`, and the
deterministic mode that device allows.

* 'auto' takes CUDA when ``torch.cuda.is_available()``, else the CPU; 'cuda' without a
  GPU raises :class:`~trainsmart.errors.TrainingError`.
* On the CPU nothing changes: deterministic algorithms on (errors on a
  nondeterministic op), the same weights for the same seed as before devices existed.
* On CUDA, cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` to be deterministic (set here
  when unset, before the first CUDA call of the fit), and some backward kernels (max-pool,
  index_add) have no deterministic CUDA version, so the mode is ``warn_only``: the seed
  fixes the initialisation (drawn on the CPU) and the shuffling (a CPU generator), while
  the arithmetic may differ from the CPU's in the last bits.

Training code moves the network and the tensors to the device for the fit and the
network back to the CPU afterwards (:func:`to_cpu`): export and parity always run on a
CPU copy.

Example::

    device = resolve_device("auto")            # device(type='cpu') on this machine
    with deterministic(seed=42, device=device):
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn

from trainsmart.errors import TrainingError

DeviceSetting = Literal["auto", "cpu", "cuda"]
CUBLAS_WORKSPACE = ":4096:8"


def resolve_device(
    setting: DeviceSetting = "auto", *, cuda_available: bool | None = None
) -> torch.device:
    """The device ``training.device`` names (``cuda_available`` defaults to torch's answer)."""
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if setting == "cpu":
        return torch.device("cpu")
    if available:
        return torch.device("cuda")
    if setting == "cuda":
        raise TrainingError(
            "training.device is 'cuda' but torch sees no GPU (torch.cuda.is_available() is "
            f"False; torch {torch.__version__}, built for CUDA {torch.version.cuda}); install "
            "a CUDA build of torch on a GPU machine or set training.device: auto"
        )
    return torch.device("cpu")


@contextmanager
def deterministic(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Seed torch and switch deterministic algorithms on (``warn_only`` on CUDA, where some
    kernels have no deterministic version), restoring the previous mode afterwards."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cuda = device is not None and device.type == "cuda"
    if cuda:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=cuda)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


def to_cpu(model: nn.Module) -> nn.Module:
    """``model`` moved (in place) to the CPU, where export and parity run."""
    return model.to(torch.device("cpu"))
