"""The PyTorch loop's features: learning-rate schedules, gradient clipping, minority
oversampling."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from tests.training.conftest import make_settings
from training.data import Dataset, split
from training.encoding import build_contract, encode_frame
from training.frameworks import FitResult
from training.frameworks.pytorch import trainer
from training.frameworks.pytorch.trainer import fit
from training.preprocess import Preprocessor
from training.settings import FeatureConfig, TrainingSettings
from training.train import train_model
from trainsmart.registry.contract import InputContract

Toy = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Preprocessor, InputContract]


@pytest.fixture(scope="module")
def toy() -> Toy:
    """Three numeric features, a noisy linear binary target, 240 train and 80 val rows."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(320, 3)), columns=["a", "b", "c"])
    noise = rng.normal(scale=0.5, size=len(frame))
    y = (frame["a"] - frame["b"] + noise > 0).astype(np.int64).to_numpy()
    features = [FeatureConfig(name=n) for n in frame.columns]
    contract = build_contract(frame.iloc[:240], features, ["0", "1"], nullable=True)
    x = encode_frame(frame, contract)
    pre = Preprocessor.fit(x[:240], contract)
    return x[:240], y[:240], x[240:], y[240:], pre, contract


def _fit(toy: Toy, **training: Any) -> FitResult:
    x_train, y_train, x_val, y_val, pre, contract = toy
    settings = TrainingSettings(**{"hidden_sizes": [8], "batch_size": 64, **training})
    return fit(x_train, y_train, x_val, y_val, pre, contract, settings, progress=False)


def _lrs(result: FitResult) -> list[float]:
    return [entry.lr for entry in result.history]


def test_no_schedule_keeps_the_learning_rate(toy: Toy) -> None:
    result = _fit(toy, max_epochs=4, patience=10)
    assert _lrs(result) == pytest.approx([1e-3] * 4)


def test_step_schedule_halves_every_step_size_epochs(toy: Toy) -> None:
    result = _fit(toy, max_epochs=5, patience=10, lr_schedule="step", lr_step_size=2, lr_gamma=0.5)
    assert _lrs(result) == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])


def test_cosine_schedule_anneals_over_max_epochs(toy: Toy) -> None:
    result = _fit(toy, max_epochs=4, patience=10, learning_rate=1e-2, lr_schedule="cosine")
    expected = [1e-2 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert _lrs(result) == pytest.approx(expected, rel=1e-6)


def test_plateau_schedule_lowers_the_rate_when_validation_stalls(toy: Toy) -> None:
    # a learning rate this small cannot move the validation loss by the scheduler's
    # relative threshold (1e-4), so every epoch after the first counts as a plateau
    result = _fit(
        toy,
        max_epochs=6,
        patience=10,
        learning_rate=1e-6,
        lr_schedule="plateau",
        lr_plateau_patience=1,
        lr_plateau_factor=0.5,
    )
    assert _lrs(result) == pytest.approx([1e-6, 1e-6, 1e-6, 5e-7, 5e-7, 2.5e-7])


def test_plateau_schedule_keeps_the_rate_while_validation_improves(toy: Toy) -> None:
    result = _fit(toy, max_epochs=4, patience=10, learning_rate=1e-2, lr_schedule="plateau")
    losses = [entry.val_loss for entry in result.history]
    assert losses == sorted(losses, reverse=True)  # improving every epoch
    assert _lrs(result) == pytest.approx([1e-2] * 4)


def _gradient_norms(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the total gradient norm that AdamW sees at every step."""
    norms: list[float] = []
    original = torch.optim.AdamW.step

    def step(self: torch.optim.AdamW, *args: Any, **kwargs: Any) -> Any:
        grads = [
            p.grad for group in self.param_groups for p in group["params"] if p.grad is not None
        ]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    return norms


def test_gradient_clipping_bounds_the_norm(toy: Toy, monkeypatch: pytest.MonkeyPatch) -> None:
    norms = _gradient_norms(monkeypatch)
    _fit(toy, max_epochs=2)
    assert max(norms) > 0.05  # unclipped gradients are larger than the bound below
    norms.clear()
    _fit(toy, max_epochs=2, grad_clip_norm=0.05)
    assert len(norms) == 8  # 4 batches x 2 epochs
    assert max(norms) <= 0.05 * (1 + 1e-4)


def test_oversampling_touches_only_the_training_split(
    fair: Dataset, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[np.ndarray] = []
    original = trainer.class_weights

    def spy(y: np.ndarray, n_classes: int) -> torch.Tensor:
        seen.append(y)
        return original(y, n_classes)

    monkeypatch.setattr(trainer, "class_weights", spy)
    settings = make_settings(tmp_path, max_epochs=1, oversample_minority=True).training_scope()
    trained = train_model(settings, dataset=fair, progress=False)
    plain = split(fair, settings.data)
    for part in ("train", "validation", "test"):  # the splits themselves are untouched
        got, want = getattr(trained.splits, part), getattr(plain, part)
        assert list(got.frame.index) == list(want.frame.index)
    counts = plain.train.target.value_counts()
    assert np.bincount(seen[0]).tolist() == [counts.max(), counts.max()]  # trained balanced
    assert trained.fit.train_rows == 2 * counts.max()
    assert trained.rows["train"] == len(plain.train) == len(trained.train)
    assert trained.rows["train_oversampled"] == 2 * counts.max()
    plain_scope = make_settings(tmp_path, max_epochs=1).training_scope()
    assert "train_oversampled" not in train_model(plain_scope, dataset=fair, progress=False).rows
