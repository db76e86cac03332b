"""Parameters and FLOPs of a PyTorch network, counted from its Linear and Conv2d layers.

FLOPs are per input row, two per multiply-accumulate of the Linear and Conv2d layers
(bias additions, activations, pooling, batch norm and the preprocessing are left out:
they are a few per cent of the total for our networks). Conv2d output sizes come from a
forward pass of one row, so pooling and padding are accounted for exactly.

Example::

    cost = count_cost(trained.model, n_features=64)
    cost.params, cost.flops          # 24_106, 645_376
    cost.layers["body.features.0"]   # LayerCost(params=320, flops=36_864)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class LayerCost:
    params: int
    flops: int


@dataclass(frozen=True)
class Cost:
    """Parameters (every trainable tensor) and FLOPs per row of a network."""

    params: int
    flops: int
    layers: dict[str, LayerCost] = field(default_factory=dict)
    """Linear and Conv2d layers by module name: their parameters and FLOPs per row."""

    def params_of(self, names: list[str]) -> int:
        """Parameters of the named layers (what pruning shrank)."""
        return sum(self.layers[n].params for n in names)


def count_cost(model: nn.Module, n_features: int) -> Cost:
    """Count ``model``'s parameters and its Linear/Conv2d FLOPs for one row of
    ``n_features`` raw inputs (the model is run once in eval mode, then restored)."""
    flops: dict[str, int] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            hooks.append(module.register_forward_hook(_recorder(name, flops)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, n_features, dtype=torch.float32))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    layers = {
        name: LayerCost(sum(p.numel() for p in module.parameters()), flops.get(name, 0))
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear | nn.Conv2d)
    }
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Cost(params, sum(flops.values()), layers)


def _recorder(name: str, into: dict[str, int]) -> Callable[..., None]:
    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        macs = 0
        if isinstance(module, nn.Linear):
            macs = module.in_features * module.out_features
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs = (module.in_channels // module.groups) * kh * kw * int(output[0].numel())
        into[name] = into.get(name, 0) + 2 * macs

    return hook
