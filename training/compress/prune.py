"""Structured pruning: physically remove hidden units and conv channels from a Network.

Unstructured pruning (zeroed weights) gives ONNX Runtime nothing to skip; removing whole
units and channels makes every matrix smaller, so the pruned model does less work.

* MLP (the body, or the CNN's head): each hidden Linear layer keeps the
  ``round(width * (1 - ratio))`` units with the largest L1 norm of their incoming
  weights; the next layer loses the matching input columns. The output layer keeps
  all its units.
* CNN: each Conv2d + BatchNorm2d block keeps the channels whose filters have the largest
  L1 norm (``criterion="bn_gamma"``: the largest |gamma| of the batch norm, as in network
  slimming); the next conv loses the matching input channels, and the head's first
  Linear the matching ``channel * height * width`` block of flattened inputs.

The pruned network is a new :class:`~training.frameworks.pytorch.models.Network` of the same classes
(MLP or CNN with smaller widths), so it trains, exports and serves like any other;
fine-tune it afterwards (:func:`training.frameworks.pytorch.trainer.fine_tune`).

Example::

    pruned = prune_network(trained.model, ratio=0.5)
    pruned.widths            # {"hidden_sizes": ([64, 32], [32, 16])}
    pruned.after.params / pruned.before.params    # 0.35
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from training.compress.counting import Cost, count_cost
from training.compress.errors import CompressionError
from training.frameworks.pytorch.models import CNN, MLP, Network

Criterion = Literal["l1", "bn_gamma"]


@dataclass(frozen=True)
class Pruned:
    """A pruned copy of a network, with its widths and costs before and after."""

    model: Network
    widths: dict[str, tuple[list[int], list[int]]]
    """'hidden_sizes' (and 'conv_channels' for a CNN): (before, after)."""
    before: Cost
    after: Cost


def kept_count(width: int, ratio: float) -> int:
    """Units a layer of ``width`` keeps when ``ratio`` of them are removed (at least 1)."""
    if not 0.0 <= ratio < 1.0:
        raise CompressionError(f"prune ratio must be in [0, 1), got {ratio}")
    return max(1, round(width * (1.0 - ratio)))


def prune_network(model: Network, ratio: float, criterion: Criterion = "l1") -> Pruned:
    """A new Network with ``ratio`` of the hidden units and conv channels removed (the
    weakest by ``criterion``); ``model`` is left unchanged."""
    before = count_cost(model, model.n_features)
    body = model.body
    widths: dict[str, tuple[list[int], list[int]]] = {}
    new_body: nn.Module
    if isinstance(body, CNN):
        new_body = _prune_cnn(body, ratio, criterion, widths)
    elif isinstance(body, MLP):
        new_body, _ = _prune_mlp(body, ratio, None, widths)
    else:
        raise CompressionError(
            f"structured pruning knows the MLP and CNN bodies, not {type(body).__name__}"
        )
    pruned = Network(
        copy.deepcopy(model.preprocessor),
        new_body,
        regression=model.regression,
        target_mean=float(model.target_mean),
        target_std=float(model.target_std),
    )
    pruned.eval()
    return Pruned(pruned, widths, before, count_cost(pruned, pruned.n_features))


def _linears(mlp: MLP) -> list[nn.Linear]:
    return [m for m in mlp.net if isinstance(m, nn.Linear)]


def _dropout(module: nn.Module) -> float:
    return next((float(m.p) for m in module.modules() if isinstance(m, nn.Dropout)), 0.0)


def _top(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """Indices of the ``kept_count`` largest scores, in their original order."""
    keep = kept_count(len(scores), ratio)
    return torch.sort(torch.topk(scores, keep).indices).values


def _prune_mlp(
    mlp: MLP,
    ratio: float,
    inputs: torch.Tensor | None,
    widths: dict[str, tuple[list[int], list[int]]],
) -> tuple[MLP, list[int]]:
    """A smaller MLP; ``inputs`` selects the input columns that remain (None: all)."""
    old = _linears(mlp)
    keeps = [_top(layer.weight.detach().abs().sum(dim=1), ratio) for layer in old[:-1]]
    hidden = [len(k) for k in keeps]
    widths["hidden_sizes"] = ([layer.out_features for layer in old[:-1]], hidden)
    n_inputs = old[0].in_features if inputs is None else len(inputs)
    new = MLP(n_inputs, hidden, _dropout(mlp), old[-1].out_features)
    columns = inputs
    for i, (src, dst) in enumerate(zip(old, _linears(new), strict=True)):
        rows = keeps[i] if i < len(keeps) else None
        _copy_linear(src, dst, rows, columns)
        columns = rows
    return new, hidden


def _copy_linear(
    src: nn.Linear, dst: nn.Linear, rows: torch.Tensor | None, columns: torch.Tensor | None
) -> None:
    weight = src.weight.detach()
    bias = src.bias.detach() if src.bias is not None else None
    if rows is not None:
        weight = weight[rows]
        bias = bias[rows] if bias is not None else None
    if columns is not None:
        weight = weight[:, columns]
    with torch.no_grad():
        dst.weight.copy_(weight)
        if bias is not None and dst.bias is not None:
            dst.bias.copy_(bias)


def _prune_cnn(
    cnn: CNN, ratio: float, criterion: Criterion, widths: dict[str, tuple[list[int], list[int]]]
) -> CNN:
    convs = [m for m in cnn.features if isinstance(m, nn.Conv2d)]
    norms = [m for m in cnn.features if isinstance(m, nn.BatchNorm2d)]
    if not convs or len(convs) != len(norms):
        raise CompressionError(
            f"the CNN has {len(convs)} conv and {len(norms)} batch-norm layers; pruning needs "
            "at least one conv block, each with one BatchNorm2d"
        )
    keeps = []
    for conv, norm in zip(convs, norms, strict=True):
        if criterion == "bn_gamma":
            scores = norm.weight.detach().abs()
        else:
            scores = conv.weight.detach().abs().sum(dim=(1, 2, 3))
        keeps.append(_top(scores, ratio))
    channels = [len(k) for k in keeps]
    widths["conv_channels"] = ([c.out_channels for c in convs], channels)
    head = _linears(cnn.head)
    new = CNN(
        list(cnn.image_shape),
        channels,
        [layer.out_features for layer in head[:-1]],
        _dropout(cnn),
        head[-1].out_features,
    )
    new_convs = [m for m in new.features if isinstance(m, nn.Conv2d)]
    new_norms = [m for m in new.features if isinstance(m, nn.BatchNorm2d)]
    previous: torch.Tensor | None = None
    for i, keep in enumerate(keeps):
        weight = convs[i].weight.detach()[keep]
        if previous is not None:
            weight = weight[:, previous]
        source = dict(convs[i].named_parameters()) | {
            f"norm.{k}": v for k, v in norms[i].state_dict().items()
        }
        target = dict(new_convs[i].named_parameters()) | {
            f"norm.{k}": v for k, v in new_norms[i].state_dict().items()
        }
        with torch.no_grad():
            target["weight"].copy_(weight)
            if "bias" in source and "bias" in target:
                target["bias"].copy_(source["bias"].detach()[keep])
            for name in ("weight", "bias", "running_mean", "running_var"):
                target[f"norm.{name}"].copy_(source[f"norm.{name}"].detach()[keep])
            target["norm.num_batches_tracked"].copy_(source["norm.num_batches_tracked"])
        previous = keep
    # the flattened maps are channel-major: channel c owns inputs [c * area, (c + 1) * area)
    area = head[0].in_features // convs[-1].out_channels
    inputs = (keeps[-1][:, None] * area + torch.arange(area)[None, :]).reshape(-1)
    head_widths: dict[str, tuple[list[int], list[int]]] = {}
    new.head, _ = _prune_mlp(cnn.head, ratio, inputs, head_widths)
    widths.update(head_widths)
    return new
