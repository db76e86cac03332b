"""Data quality of a window against the input contract: missing values, numbers outside
the range seen in training, and categories the model never saw.

The contract records each numeric feature's training min and max and each categorical
feature's training categories; serving accepts values outside both (unknown
categories go to the model's unknown bucket), so this is where they become visible.

Example::

    quality = data_quality(contract, contract_frame(contract, rows))
    quality["age"].out_of_range, quality["age"].shares()["missing"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitoring.drift.results import FeatureQuality
from trainsmart.registry.contract import FeatureSpec, InputContract

if TYPE_CHECKING:
    import pandas as pd


def data_quality(contract: InputContract, frame: pd.DataFrame) -> dict[str, FeatureQuality]:
    """Counts per contract feature of ``frame`` (a typed frame from ``contract_frame``)."""
    return {spec.name: _feature(spec, frame[spec.name]) for spec in contract.features}


def _feature(spec: FeatureSpec, column: pd.Series) -> FeatureQuality:
    missing = column.isna()
    present = column[~missing]
    out_of_range = unseen = 0
    if spec.kind == "numeric":
        values = present.astype("float64")
        low = values < spec.min if spec.min is not None else values != values
        high = values > spec.max if spec.max is not None else values != values
        out_of_range = int((low | high).sum())
    elif spec.categories:
        known = {_key(c) for c in spec.categories}
        unseen = int(sum(_key(v) not in known for v in present.tolist()))
    return FeatureQuality(
        missing=int(missing.sum()), out_of_range=out_of_range, unseen=unseen, rows=len(column)
    )


def _key(value: object) -> object:
    """Numbers compare by value (3 == 3.0), anything else by its text."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return float(value)
    return str(value)
