"""Preprocessing inside the model graph, fitted on the training split only.

Per numeric feature: NaN -> training median, then ``(x - mean) / std`` with the
training mean and std (a constant column gets std 1; the pixels of an image
contract share one mean and std, taken over every training pixel). Per categorical feature:
NaN -> the most frequent training code, then a one-hot over the codes seen in
training plus an unknown bucket for any other value. Only ops that export to
ONNX are used (isnan, where, comparisons, cat), so serving needs no pandas.

Example::

    contract = build_contract(train.frame, dataset.features, dataset.classes)
    pre = Preprocessor.fit(encode_frame(train.frame, contract), contract)
    pre(torch.from_numpy(encode_frame(test.frame, contract)))   # [n, pre.n_outputs]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from training.encoding import build_contract, encode_frame
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import FeatureSpec, InputContract

__all__ = ["Preprocessor", "build_contract", "category_codes", "encode_frame"]


def category_codes(spec: FeatureSpec) -> list[float]:
    """The input values that mean each known category (index for strings, else the value)."""
    cats = spec.categories or []
    if cats and all(isinstance(c, str) for c in cats):
        return [float(i) for i in range(len(cats))]
    return [float(c) for c in cats]


def _mode(values: np.ndarray) -> float:
    uniques, counts = np.unique(values, return_counts=True)
    return float(uniques[int(np.argmax(counts))])  # ties: the smallest code


class Preprocessor(nn.Module):
    """Imputation, scaling and one-hot encoding as a torch module (use :meth:`fit`)."""

    median: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    numeric_index: torch.Tensor

    def __init__(self, contract: InputContract) -> None:
        super().__init__()
        self.kinds = [f.kind for f in contract.features]
        self.numeric_columns = [i for i, k in enumerate(self.kinds) if k == "numeric"]
        self.categorical_columns = [i for i, k in enumerate(self.kinds) if k == "categorical"]
        n_numeric = len(self.numeric_columns)
        self.register_buffer("median", torch.zeros(n_numeric))
        self.register_buffer("mean", torch.zeros(n_numeric))
        self.register_buffer("std", torch.ones(n_numeric))
        self.register_buffer("numeric_index", torch.tensor(self.numeric_columns, dtype=torch.long))
        self.n_outputs = n_numeric
        for k, column in enumerate(self.categorical_columns):
            codes = category_codes(contract.features[column])
            self.register_buffer(f"codes_{k}", torch.tensor(codes, dtype=torch.float32))
            self.register_buffer(f"mode_{k}", torch.tensor(codes[0], dtype=torch.float32))
            self.n_outputs += len(codes) + 1

    @classmethod
    def fit(cls, train: np.ndarray, contract: InputContract) -> Preprocessor:
        """Learn the statistics from ``train`` (the encoded training split) only."""
        if train.ndim != 2 or train.shape[1] != len(contract.features):
            raise TrainingError(
                f"training matrix has shape {train.shape}; expected [rows, "
                f"{len(contract.features)}] (one column per contract feature)"
            )
        pre = cls(contract)
        data = train.astype(np.float64)
        medians, means, stds = [], [], []
        for column in pre.numeric_columns:
            values = data[:, column][~np.isnan(data[:, column])]
            if values.size == 0:
                name = contract.features[column].name
                raise TrainingError(f"numeric feature '{name}' is empty in the training split")
            median = float(np.median(values))
            filled = np.where(np.isnan(data[:, column]), median, data[:, column])
            std = float(filled.std())
            medians.append(median)
            means.append(float(filled.mean()))
            stds.append(std if std > 1e-12 else 1.0)
        if contract.image_shape is not None and pre.numeric_columns:
            # images: one mean and std over every training pixel, so that a pixel that is
            # rarely lit in training does not blow up to a huge standardised value
            pixels = np.where(np.isnan(data), np.array(medians), data)
            spread = float(pixels.std())
            means = [float(pixels.mean())] * len(means)
            stds = [spread if spread > 1e-12 else 1.0] * len(stds)
        pre.median = torch.tensor(medians, dtype=torch.float32)
        pre.mean = torch.tensor(means, dtype=torch.float32)
        pre.std = torch.tensor(stds, dtype=torch.float32)
        for k, column in enumerate(pre.categorical_columns):
            values = data[:, column][~np.isnan(data[:, column])]
            if values.size:
                setattr(pre, f"mode_{k}", torch.tensor(_mode(values), dtype=torch.float32))
        return pre

    def statistics(self) -> dict[str, list[float]]:
        """The fitted numbers (for inspection and tests)."""
        return {
            "median": self.median.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "mode": [
                float(getattr(self, f"mode_{k}")) for k in range(len(self.categorical_columns))
            ],
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        if self.numeric_columns:
            numeric = torch.index_select(x, 1, self.numeric_index)
            numeric = torch.where(torch.isnan(numeric), self.median, numeric)
            parts.append((numeric - self.mean) / self.std)
        for k, column in enumerate(self.categorical_columns):
            value = x[:, column : column + 1]
            value = torch.where(torch.isnan(value), getattr(self, f"mode_{k}"), value)
            one_hot = (value == getattr(self, f"codes_{k}")).to(x.dtype)
            unknown = 1.0 - one_hot.sum(dim=1, keepdim=True)
            parts.extend([one_hot, unknown])
        return torch.cat(parts, dim=1)
