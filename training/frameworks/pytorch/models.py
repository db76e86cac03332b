"""The PyTorch networks: in-graph preprocessing, an MLP or a small CNN, and the output.

A :class:`Network` maps raw float32 rows ``[n, n_features]`` (what serving sends)
to class probabilities ``[n, n_classes]`` (classification) or predicted values
``[n, 1]`` (regression, in the target's units). The CNN reshapes the row back
into the image ``[n, c, h, w]`` inside the graph, so the exported ONNX model
takes the same flat rows as every other model.

Example::

    net = build_network(preprocessor, contract, settings.training)
    net.eval()
    net(torch.from_numpy(encode_frame(frame, contract)))   # probabilities [n, 2]
"""

from __future__ import annotations

import torch
from torch import nn

from training.frameworks.base import use_cnn
from training.preprocess import Preprocessor
from training.settings import TrainingSettings
from trainsmart.registry.contract import InputContract


class MLP(nn.Module):
    """Linear -> ReLU -> Dropout per hidden layer, then a linear layer to the outputs."""

    def __init__(
        self, n_inputs: int, hidden_sizes: list[int], dropout: float, n_outputs: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class CNN(nn.Module):
    """Conv 3x3 -> BatchNorm -> ReLU -> MaxPool 2x2 per block, Dropout, then an MLP head.

    Takes the preprocessed flat pixels ``[n, c*h*w]`` and reshapes them to ``image_shape``.
    """

    def __init__(
        self,
        image_shape: list[int],
        conv_channels: list[int],
        hidden_sizes: list[int],
        dropout: float,
        n_outputs: int,
    ) -> None:
        super().__init__()
        channels, height, width = image_shape
        self.image_shape = (channels, height, width)
        blocks: list[nn.Module] = []
        for out_channels in conv_channels:
            blocks += [
                nn.Conv2d(channels, out_channels, kernel_size=3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            ]
            if min(height, width) >= 2:
                blocks.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = MLP(channels * height * width, hidden_sizes, dropout, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(x.shape[0], *self.image_shape)
        maps = torch.flatten(self.features(images), 1)
        out: torch.Tensor = self.head(self.dropout(maps))
        return out


class Network(nn.Module):
    """Raw rows -> preprocessing -> body -> softmax (classification) or the value in the
    target's units (regression: the body predicts the standardised target)."""

    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(
        self,
        preprocessor: Preprocessor,
        body: nn.Module,
        *,
        regression: bool = False,
        target_mean: float = 0.0,
        target_std: float = 1.0,
    ) -> None:
        super().__init__()
        self.preprocessor = preprocessor
        self.body = body
        self.regression = regression
        self.register_buffer("target_mean", torch.tensor(target_mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(target_std, dtype=torch.float32))
        self.n_features = len(preprocessor.kinds)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """What the loss works on: class scores, or the standardised predicted value."""
        scores: torch.Tensor = self.body(self.preprocessor(x))
        return scores

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.regression:
            return self.logits(x) * self.target_std + self.target_mean
        return torch.softmax(self.logits(x), dim=1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs in eval mode (dropout off, batch norm frozen); the mode is restored."""
        was_training = self.training
        self.eval()
        try:
            out: torch.Tensor = self(x)
            return out
        finally:
            self.train(was_training)


def build_network(
    preprocessor: Preprocessor,
    contract: InputContract,
    settings: TrainingSettings,
    *,
    target_mean: float = 0.0,
    target_std: float = 1.0,
) -> Network:
    """The network ``settings`` describes for ``contract`` (MLP or CNN; task's output)."""
    regression = contract.task == "regression"
    n_outputs = 1 if regression else len(contract.classes)
    body: nn.Module
    if use_cnn(contract, settings):
        body = CNN(
            list(contract.image_shape or []),
            settings.conv_channels,
            settings.hidden_sizes,
            settings.dropout,
            n_outputs,
        )
    else:
        body = MLP(preprocessor.n_outputs, settings.hidden_sizes, settings.dropout, n_outputs)
    return Network(
        preprocessor,
        body,
        regression=regression,
        target_mean=target_mean,
        target_std=target_std,
    )
