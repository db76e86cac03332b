"""Settings and metrics.json as the flat ``name -> value`` maps trackers take."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from training.settings import TrainingScope
from trainsmart.errors import redact


def flat_params(settings: TrainingScope) -> dict[str, str]:
    """The effective settings a run trained with, one parameter per leaf:
    ``data.dataset``, ``training.learning_rate``, ``training.tuning.search_space.dropout.high``
    (lists as JSON; ``training.tracking`` left out: where the run went, not how it trained)."""
    sections = {
        "model_name": settings.model_name,
        "data": settings.data.model_dump(mode="json"),
        "training": settings.training.model_dump(mode="json", exclude={"tracking"}),
    }
    return {key: _text(value) for key, value in _leaves(sections, "")}


def numeric_leaves(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Every finite number of metrics.json, named by its path (``serving.accuracy``,
    ``validation.loss``, ``latency_ms.fp32_batch_1``); the variant table by variant name
    (``variants.int8_dynamic.metrics.accuracy``, ``variants.fp32.file_bytes``)."""
    tree = dict(metrics)
    variants = tree.get("variants")
    if isinstance(variants, Mapping):
        rows = variants.get("table") or []
        tree["variants"] = {
            **{k: v for k, v in variants.items() if k != "table"},
            **{str(row.get("name")): row for row in rows if isinstance(row, Mapping)},
        }
    return {
        key: float(value)
        for key, value in _leaves(tree, "")
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }


def _leaves(value: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        return [
            leaf
            for key, item in value.items()
            for leaf in _leaves(item, f"{prefix}.{key}" if prefix else str(key))
        ]
    return [(prefix, value)]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return redact(value)
    return json.dumps(value)
