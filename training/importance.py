"""Global feature importance of a served model: permutation importance on the test split,
through the ONNX Runtime session of ``model.onnx``.

Each contract feature (a raw input column) is shuffled across the test rows, ``repeats``
times with a seeded generator; its importance is the drop of the score (accuracy for a
classifier, R2 for a regression model) against the unshuffled rows: the mean and the
spread (population std) over the repeats. A mean at or below 0 says the model does not
use the column (shuffling it costs nothing). The model's input is the encoded matrix
(``training.encoding.encode_frame``: one column per raw feature, a string category as its
index), so shuffling a matrix column is shuffling the raw column.

metrics.json keeps it under ``"importance"`` (the monitor weighs drift by it)::

    {"method": "permutation", "metric": "accuracy", "repeats": 5, "rows": 955,
     "features": {"rate_marriage": {"mean": 0.081, "std": 0.006}, ...}}

An image model's features are its pixels: shuffling one pixel across images says little
and costs one model call per pixel, so an image contract gets ``"features": {}`` and a
``"note"`` (POST /explain draws an attribution map per image instead).

Example::

    section = permutation_importance(session("model.onnx"), x_test, y_test, contract,
                                     repeats=5, max_rows=2000, seed=42)
    top_features(section, 3)   # [("rate_marriage", 0.081, 0.006), ...]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.onnx_parity import onnx_predict, session
from training.settings import TrainingScope
from trainsmart.registry.contract import InputContract

IMAGE_NOTE = (
    "not computed for image models (one feature per pixel); POST /explain draws an "
    "attribution map per image"
)


def importance_metric(contract: InputContract, truth: np.ndarray) -> str:
    """The score whose drop is measured: accuracy, r2, or neg_mse for a constant target
    (where R2 is undefined)."""
    if contract.task != "regression":
        return "accuracy"
    return "r2" if float(np.var(truth)) > 0 else "neg_mse"


def _score(metric: str, outputs: np.ndarray, truth: np.ndarray) -> float:
    """``metric`` of ``outputs`` ``[n, k]`` against ``truth`` (class indices, or values)."""
    if metric == "accuracy":
        return float(np.mean(outputs.argmax(axis=1) == truth))
    error = outputs.reshape(-1).astype(np.float64) - truth
    if metric == "neg_mse":
        return -float(np.mean(error**2))
    return 1.0 - float(np.sum(error**2)) / float(np.sum((truth - truth.mean()) ** 2))


def _truth(contract: InputContract, labels: Sequence[Any]) -> np.ndarray:
    if contract.task == "regression":
        return np.asarray([float(v) for v in labels], dtype=np.float64)
    index = {c: i for i, c in enumerate(contract.classes)}
    return np.asarray([index.get(str(v), -1) for v in labels], dtype=np.int64)


def permutation_importance(
    model: Path | Any,
    matrix: np.ndarray,
    labels: Sequence[Any],
    contract: InputContract,
    *,
    repeats: int,
    max_rows: int,
    seed: int,
) -> dict[str, Any]:
    """The ``"importance"`` section of metrics.json for ``model`` (a path or an open ONNX
    Runtime session) on ``matrix`` (encoded test rows) and their ``labels``.

    At most ``max_rows`` rows are used (drawn with ``seed``); each feature is shuffled
    ``repeats`` times, all repeats scored in one ONNX Runtime call. Deterministic for a
    given seed.
    """
    sess = session(Path(model)) if isinstance(model, str | Path) else model
    truth = _truth(contract, labels)
    rng = np.random.default_rng(seed)
    rows = np.asarray(matrix, dtype=np.float32)
    if len(rows) > max_rows:
        keep = np.sort(rng.choice(len(rows), size=max_rows, replace=False))
        rows, truth = rows[keep], truth[keep]
    metric = importance_metric(contract, truth)
    section: dict[str, Any] = {
        "method": "permutation",
        "metric": metric,
        "repeats": repeats,
        "rows": len(rows),
        "features": {},
    }
    if contract.image_shape is not None:
        section["note"] = IMAGE_NOTE
        return section
    n = len(rows)
    baseline = _score(metric, onnx_predict(sess, rows), truth)
    for j, name in enumerate(contract.feature_names):
        shuffled = np.tile(rows, (repeats, 1))
        for r in range(repeats):
            shuffled[r * n : (r + 1) * n, j] = rows[rng.permutation(n), j]
        outputs = onnx_predict(sess, shuffled)
        drops = [
            baseline - _score(metric, outputs[r * n : (r + 1) * n], truth) for r in range(repeats)
        ]
        section["features"][name] = {"mean": float(np.mean(drops)), "std": float(np.std(drops))}
    return section


def importance_section(
    model: Path,
    matrix: np.ndarray,
    labels: Sequence[Any],
    contract: InputContract,
    settings: TrainingScope,
) -> dict[str, Any]:
    """:func:`permutation_importance` of the staged ``model`` as the settings ask
    (training.importance_repeats, training.importance_rows, seeded by data.seed)."""
    return permutation_importance(
        model,
        matrix,
        labels,
        contract,
        repeats=settings.training.importance_repeats,
        max_rows=settings.training.importance_rows,
        seed=settings.data.seed,
    )


def top_features(
    section: Mapping[str, Any] | None, top: int | None = None
) -> list[tuple[str, float, float]]:
    """(feature, mean, std), most important first (ties by name); at most ``top``."""
    features = (section or {}).get("features") or {}
    ranked = sorted(
        ((str(k), float(v["mean"]), float(v["std"])) for k, v in features.items()),
        key=lambda item: (-item[1], item[0]),
    )
    return ranked if top is None else ranked[:top]


def importance_markdown(section: Mapping[str, Any] | None, figure: str) -> list[str]:
    """The report's "Feature importance" section (empty when metrics.json has none)."""
    if not section:
        return []
    lines = ["## Feature importance (serving variant, test split)", ""]
    ranked = top_features(section)
    if not ranked:
        note = str(section.get("note") or "no features were scored")
        return [*lines, f"{note[0].upper()}{note[1:]}.", ""]
    metric = section.get("metric", "score")
    lines += [
        f"Permutation importance: the drop of {metric} when one column is shuffled, mean "
        f"and std over {section.get('repeats')} repeats on {section.get('rows')} test rows "
        "(at or below 0: the model does not use the column).",
        "",
        "| feature | mean | std |",
        "|---|---|---|",
        *(f"| {name} | {mean:.4f} | {std:.4f} |" for name, mean, std in ranked),
        "",
        f"![feature importance]({figure})",
        "",
    ]
    return lines
