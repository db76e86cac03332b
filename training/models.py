"""The PyTorch classifier: in-graph preprocessing, an MLP, and a softmax.

Example::

    model = Classifier(preprocessor, hidden_sizes=[64, 32], dropout=0.1, n_classes=2)
    model.eval()
    model(torch.from_numpy(encode_frame(frame, contract)))   # probabilities [n, 2]
"""

from __future__ import annotations

import torch
from torch import nn

from training.preprocess import Preprocessor


class MLP(nn.Module):
    """Linear -> ReLU -> Dropout per hidden layer, then a linear layer to class logits."""

    def __init__(
        self, n_inputs: int, hidden_sizes: list[int], dropout: float, n_classes: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(x)
        return logits


class Classifier(nn.Module):
    """Raw float32 rows ``[n, n_features]`` -> class probabilities ``[n, n_classes]``."""

    def __init__(
        self,
        preprocessor: Preprocessor,
        hidden_sizes: list[int],
        dropout: float,
        n_classes: int,
    ) -> None:
        super().__init__()
        self.preprocessor = preprocessor
        self.mlp = MLP(preprocessor.n_outputs, hidden_sizes, dropout, n_classes)
        self.n_features = len(preprocessor.kinds)
        self.n_classes = n_classes

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores; the training loss works on these."""
        scores: torch.Tensor = self.mlp(self.preprocessor(x))
        return scores

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities in eval mode (dropout off); the training mode is restored after."""
        was_training = self.training
        self.eval()
        try:
            out: torch.Tensor = self(x)
            return out
        finally:
            self.train(was_training)
