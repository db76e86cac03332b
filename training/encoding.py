"""Raw rows <-> the model's float32 input matrix, exactly as serving does it (no torch).

The model input is ``[n, n_features]`` float32 in contract feature order. A
numeric feature or a numeric-coded categorical is passed as its value; a string
categorical is passed as the index of the string in the contract's
``categories`` (what :meth:`InputContract.to_matrix` does at serving time). A
string that the contract does not know becomes ``-1`` here, which the model's
one-hot layer sends to the unknown bucket; missing values become NaN, imputed
inside the model graph.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from training.settings import FeatureConfig
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import (
    UNKNOWN_CODE,
    Category,
    FeatureSpec,
    InputContract,
    Task,
)

"""Code given to a string category that the contract does not list."""


def is_string_column(column: pd.Series) -> bool:
    """True when a categorical column holds strings (encoded by index, not by value)."""
    return not pd.api.types.is_numeric_dtype(column) and any(
        isinstance(v, str) for v in column.dropna()
    )


def _numeric_category(value: float) -> Category:
    return int(value) if float(value).is_integer() else float(value)


def build_contract(
    frame: pd.DataFrame,
    features: list[FeatureConfig],
    classes: list[str],
    *,
    nullable: bool = True,
    task: Task = "classification",
    image_shape: list[int] | None = None,
) -> InputContract:
    """The input contract of a model trained on ``frame`` (the training split)."""
    specs: list[FeatureSpec] = []
    for feature in features:
        column = frame[feature.name]
        if feature.kind == "numeric":
            values = pd.to_numeric(column).dropna()
            if values.empty:
                raise TrainingError(
                    f"numeric feature '{feature.name}' has no values in the training split"
                )
            specs.append(
                FeatureSpec(
                    name=feature.name,
                    kind="numeric",
                    min=float(values.min()),
                    max=float(values.max()),
                    nullable=nullable,
                )
            )
            continue
        categories: list[Category]
        if is_string_column(column):
            categories = sorted({str(v) for v in column.dropna()})
        else:
            categories = [_numeric_category(v) for v in sorted(set(pd.to_numeric(column).dropna()))]
        if not categories:
            raise TrainingError(
                f"categorical feature '{feature.name}' has no values in the training split"
            )
        specs.append(
            FeatureSpec(
                name=feature.name, kind="categorical", categories=categories, nullable=nullable
            )
        )
    return InputContract(
        features=specs,
        classes=list(classes) if task == "classification" else [],
        task=task,
        image_shape=image_shape,
        output_name="probabilities" if task == "classification" else "value",
    )


def _string_codes(spec: FeatureSpec) -> dict[str, float]:
    cats = spec.categories or []
    return {c: float(i) for i, c in enumerate(cats) if isinstance(c, str)}


def _encode_value(value: Any, codes: Mapping[str, float]) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, str):
        return codes.get(value, UNKNOWN_CODE)
    return float(value)  # a code passed directly, as serving allows


def encode_frame(frame: pd.DataFrame, contract: InputContract) -> np.ndarray:
    """Raw feature rows -> float32 ``[n, n_features]`` model input (serving's encoding)."""
    missing = [n for n in contract.feature_names if n not in frame.columns]
    if missing:
        raise TrainingError(
            f"rows lack features {missing}; the contract expects {contract.feature_names}"
        )
    matrix = np.empty((len(frame), len(contract.features)), dtype=np.float32)
    for j, spec in enumerate(contract.features):
        column = frame[spec.name]
        codes = _string_codes(spec)
        if codes or not pd.api.types.is_numeric_dtype(column):
            matrix[:, j] = [_encode_value(v, codes) for v in column.tolist()]
        else:
            matrix[:, j] = column.to_numpy(dtype=np.float64)
    return matrix


def frame_from_rows(rows: Iterable[Mapping[str, Any]], contract: InputContract) -> pd.DataFrame:
    """Logged request rows (feature dicts) -> a raw frame with the contract's columns.

    A string categorical sent as its index is turned back into the string, so
    that the frame means the same thing under a later contract.
    """
    records: list[dict[str, Any]] = []
    for row in rows:
        record: dict[str, Any] = {}
        for spec in contract.features:
            value = row.get(spec.name)
            cats = spec.categories or []
            string_cats = bool(cats) and all(isinstance(c, str) for c in cats)
            if value is None:
                record[spec.name] = None if string_cats else math.nan
            elif string_cats and isinstance(value, int | float) and not isinstance(value, bool):
                index = int(value)
                known = float(value).is_integer() and 0 <= index < len(cats)
                record[spec.name] = cats[index] if known else None
            else:
                record[spec.name] = value
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=contract.feature_names)
    for spec in contract.features:
        cats = spec.categories or []
        if not (cats and all(isinstance(c, str) for c in cats)):
            frame[spec.name] = pd.to_numeric(frame[spec.name], errors="coerce").astype("float64")
        else:
            frame[spec.name] = frame[spec.name].astype(object)
    return frame
