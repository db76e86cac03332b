"""Logged rows and reference samples as typed frames, one column per contract feature.

Numeric features are float64 (null -> NaN); a categorical feature whose categories
are strings may arrive as its string or its code (the contract accepts both), so
codes are mapped back to the string and both compare equal.

Example::

    frame = contract_frame(contract, [row.features for row in window])
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

from trainsmart.registry.contract import FeatureSpec, InputContract

if TYPE_CHECKING:
    import pandas as pd


def normalize_value(spec: FeatureSpec, value: Any) -> Any:
    """A logged or reference value as the drift frame holds it.

    Numeric features become floats (None -> NaN). A categorical feature whose
    categories are strings may arrive as its string or its code (the contract
    accepts both); codes are mapped back to the string so both compare equal.
    """
    if value is None:
        return math.nan
    if spec.kind == "numeric":
        return float(value)
    categories = spec.categories or []
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if categories and all(isinstance(c, str) for c in categories):
            if number.is_integer() and 0 <= int(number) < len(categories):
                return categories[int(number)]
            return str(value)
        return number
    return value


def contract_frame(contract: InputContract, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame with one column per contract feature, in contract order."""
    import pandas as pd  # lazy: pandas loads only once a window is compared

    data = {
        spec.name: [normalize_value(spec, row.get(spec.name)) for row in rows]
        for spec in contract.features
    }
    frame = pd.DataFrame(data, columns=contract.feature_names)
    return typed_frame(contract, frame)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def typed_frame(contract: InputContract, frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd  # lazy: pandas loads only once a window is compared

    out = frame.copy()
    for spec in contract.features:
        if spec.kind == "numeric":
            out[spec.name] = pd.to_numeric(out[spec.name], errors="coerce").astype("float64")
        else:
            column = out[spec.name]
            values = column.dropna()
            is_number = values.map(_is_number)
            # numeric codes stay numbers; string categories (or a mix) compare as objects
            out[spec.name] = column.astype("float64" if is_number.all() else object)
    return out
