"""The input contract: what a model accepts and what it answers.

Training writes it into every bundle; serving validates each request row
against it and turns rows into the model's float32 input matrix with no
pandas or sklearn at request time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from trainsmart.errors import InvalidInput, clip
from trainsmart.registry.images import expand_image_rows

Category = int | float | str
FLOAT32_MAX = float(np.finfo(np.float32).max)
UNKNOWN_CODE = -1.0
"""Model input code of a category string not seen in training (the unknown bucket)."""


class FeatureSpec(BaseModel):
    """One input feature as the model sees it."""

    name: str
    kind: Literal["numeric", "categorical"]
    dtype: Literal["float32"] = "float32"
    """Type of the model's input column (categorical values are passed as codes)."""
    categories: list[Category] | None = None
    """Categories seen in the training split. Any other value is accepted and goes to the
    model's unknown bucket (string categories are passed as their index, unknown as -1)."""
    min: float | None = None
    """Smallest value seen in the training split (numeric features)."""
    max: float | None = None
    """Largest value seen in the training split (numeric features)."""
    nullable: bool = True
    """null is accepted and imputed inside the model graph."""

    @property
    def string_categories(self) -> bool:
        """A categorical feature whose categories are strings (passed to the model as codes)."""
        return (
            self.kind == "categorical"
            and bool(self.categories)
            and all(isinstance(c, str) for c in self.categories or [])
        )

    def expected(self) -> str:
        if self.kind == "numeric" or self.categories is None:
            text = "a finite number"
        elif self.string_categories:
            text = (
                "a string (seen: "
                + ", ".join(repr(c) for c in self.categories)
                + "; others go to the unknown bucket)"
            )
        else:
            text = (
                "a finite number (category code, seen: "
                + ", ".join(repr(c) for c in self.categories)
                + ")"
            )
        return text + (" or null" if self.nullable else "")


Task = Literal["classification", "regression"]


class InputContract(BaseModel):
    """Feature names and types, the task and its outputs, and the ONNX tensor names."""

    features: list[FeatureSpec]
    classes: list[str] = []
    """Output class labels, in the order of the model's probability columns (empty for
    regression)."""
    task: Task = "classification"
    """'classification': the model outputs ``[n, len(classes)]`` probabilities;
    'regression': it outputs ``[n, 1]`` predicted values."""
    image_shape: list[int] | None = None
    """``[channels, height, width]`` of an image model. Its features are the pixels
    ``pixel_0 .. pixel_{c*h*w-1}`` in channel-row-column order; the model reshapes them."""
    input_name: str = "input"
    output_name: str = "probabilities"
    """Name of the ONNX output: 'probabilities' (classification) or 'value' (regression)."""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_matrix(
        self,
        rows: Any,
        *,
        field_prefix: str = "instances",
        locate: Callable[[int, str], str] | None = None,
    ) -> np.ndarray:
        """Validate ``rows`` (a list of objects) and return a float32 ``[n, features]`` matrix.

        Raises InvalidInput naming the first offending field and what was expected.
        ``locate(row, feature)`` names a value's field in errors when the rows were built
        from another layout (columns, tensors); the default is ``instances[row].feature``.
        """
        if not isinstance(rows, list):
            raise InvalidInput.for_field(field_prefix, "a list of objects", rows)
        if not rows:
            raise InvalidInput.for_field(field_prefix, "at least one row", rows)
        matrix = np.empty((len(rows), len(self.features)), dtype=np.float32)
        names = self.feature_names
        known = set(names)
        for i, row in enumerate(rows):
            where = f"{field_prefix}[{i}]"
            if not isinstance(row, dict):
                raise InvalidInput.for_field(where, "an object of feature values", row)
            missing = [n for n in names if n not in row]
            if missing:
                raise (
                    InvalidInput.for_field(
                        f"{where}.{missing[0]}", "a value (the field is missing)", None
                    )
                    if len(missing) == 1
                    else InvalidInput(
                        f"field '{where}': missing features {missing}; expected all of {names}",
                        field=f"{where}.{missing[0]}",
                    )
                )
            extra = [k for k in row if k not in known]
            if extra:
                unknown = f"{where}.{clip(str(extra[0]))}"
                raise InvalidInput(
                    f"field '{unknown}': unknown feature; expected only {names}", field=unknown
                )
            for j, spec in enumerate(self.features):
                field = f"{where}.{spec.name}" if locate is None else locate(i, spec.name)
                matrix[i, j] = self._value(spec, row[spec.name], field)
        return matrix

    @staticmethod
    def _value(spec: FeatureSpec, value: Any, field: str) -> float:
        if value is None:
            if spec.nullable:
                return math.nan
            raise InvalidInput.for_field(field, spec.expected(), value)
        if isinstance(value, bool):
            raise InvalidInput.for_field(field, spec.expected(), value)
        if isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:  # an int with hundreds of digits
                number = math.inf
            if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
                raise InvalidInput.for_field(
                    field, spec.expected() + f" (within +-{FLOAT32_MAX:.3g})", value
                )
            return number
        if isinstance(value, str) and spec.string_categories:
            categories = spec.categories or []
            return float(categories.index(value)) if value in categories else UNKNOWN_CODE
        raise InvalidInput.for_field(field, spec.expected(), value)

    def expand_rows(self, rows: Any, field_prefix: str = "instances") -> Any:
        """``rows`` with ``{"image": nested list}`` rows turned into pixel features (image
        contracts); anything else unchanged. See :mod:`trainsmart.registry.images`."""
        if self.image_shape is None:
            return rows
        specs = {spec.name: spec for spec in self.features}

        def check(k: int, value: Any, field: str) -> None:
            spec = specs.get(f"pixel_{k}")
            if spec is not None:  # a pixel the contract lacks is to_matrix's to report
                self._value(spec, value, field)

        return expand_image_rows(rows, self.image_shape, field_prefix, check)

    def input_shapes(self) -> list[list[int]]:
        """Shapes one row may take as a tensor: ``[features]``, and for an image contract
        ``[c, h, w]`` (and ``[h, w]`` when there is one channel)."""
        shapes = [[len(self.features)]]
        if self.image_shape:
            shapes.append(list(self.image_shape))
            if self.image_shape[0] == 1:
                shapes.append(list(self.image_shape[1:]))
        return shapes

    def outputs(self) -> list[tuple[str, str, list[int]]]:
        """(name, datatype, shape) of each answer tensor; -1 is the batch dimension."""
        if self.task == "regression":
            return [("value", "FP32", [-1, 1])]
        return [("probabilities", "FP32", [-1, len(self.classes)]), ("class", "BYTES", [-1])]

    def prediction(self, output: Any) -> dict[str, Any]:
        """The answer for one row from the model's output row: the class and probabilities,
        or the value."""
        if self.task == "regression":
            return {"value": float(output[0])}
        best = max(range(len(self.classes)), key=lambda i: float(output[i]))
        return {
            "class": self.classes[best],
            "probabilities": {c: float(p) for c, p in zip(self.classes, output, strict=True)},
        }

    def parse_label(self, label: Any, field: str = "label") -> str:
        """Return ``label`` as one of the contract's classes (or, for regression, as the
        canonical text of a finite number), or raise InvalidInput."""
        if self.task == "regression":
            expected = "a finite number (the true value)"
            if isinstance(label, bool) or not isinstance(label, int | float):
                raise InvalidInput.for_field(field, expected, label)
            try:
                number = float(label)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
                raise InvalidInput.for_field(field, expected, label)
            return repr(number)
        if isinstance(label, bool) or not isinstance(label, str | int | float):
            raise InvalidInput.for_field(field, f"one of the classes {self.classes}", label)
        text = str(label)
        if isinstance(label, float) and label.is_integer():
            text = str(int(label))
        if text not in self.classes:
            raise InvalidInput.for_field(field, f"one of the classes {self.classes}", label)
        return text
