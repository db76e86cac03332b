"""The body and the documented answers of ``POST /explain`` (``serving/explain.py``).

The body is /predict's, parsed like it (``Predictor.predict``): an object with
``instances`` or ``columns`` and optionally ``version``; the rows are validated against the
contract by the same ``InputContract.to_matrix``, so every 4xx names the same field.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from serving.http import ErrorResponse
from serving.predictor import Predictor
from serving.runtime import LoadedModel
from trainsmart.errors import InvalidInput, PayloadTooLarge
from trainsmart.names import check_name

BODY = (
    'an object {"instances": [{feature: value, ...}, ...]} or '
    '{"columns": {feature: [value, ...], ...}}, optionally with "version"'
)


def _column_field(row: int, feature: str) -> str:
    return f"columns.{feature}[{row}]"


def _check_rows(n: int, field: str, limit: int) -> None:
    if n > limit:
        raise PayloadTooLarge(
            f"field '{field}': {n} rows is over the limit of {limit} per /explain request "
            "(serving.explain_max_rows); explain fewer rows per request",
            field=field,
        )


def explain_model(predictor: Predictor, body: Any) -> LoadedModel:
    """The model that answers ``body``: production, or the candidate its ``version`` pins
    (404 for another); InvalidInput (400) naming the field for a body of the wrong shape."""
    if not isinstance(body, dict):
        raise InvalidInput.for_field("body", BODY, body)
    unknown = [k for k in body if k not in ("instances", "columns", "version")]
    if unknown:
        raise InvalidInput(
            f"field '{unknown[0]}': unknown; the body takes 'instances' or 'columns', "
            "and optionally 'version'",
            field=unknown[0],
        )
    version = body.get("version")
    if version is not None:
        check_name(version, "version")
    if "instances" in body and "columns" in body:
        raise InvalidInput(
            "field 'columns': send either 'instances' (rows) or 'columns', not both",
            field="columns",
        )
    if "instances" not in body and "columns" not in body:
        raise InvalidInput.for_field("instances", "a list of feature objects (missing)", None)
    return predictor.model(version)


def explain_matrix(
    predictor: Predictor, model: LoadedModel, body: dict[str, Any], max_rows: int
) -> np.ndarray:
    """``body``'s rows (checked by :func:`explain_model`) validated against the contract as
    the model's float32 matrix; InvalidInput (400, 413 past ``max_rows``) naming the field."""
    locate = None
    if "columns" in body:
        columns = body["columns"]
        if isinstance(columns, dict):  # the cap first: one column's length is the row count
            first: Any = next(iter(columns.values()), [])
            _check_rows(len(first) if isinstance(first, list) else 0, "columns", max_rows)
        rows = predictor._columns(columns, model.contract)  # /predict's own column parsing
        field, locate = "columns", _column_field
    else:
        rows, field = body["instances"], "instances"
    if isinstance(rows, list):
        _check_rows(len(rows), field, max_rows)
    rows = model.contract.expand_rows(rows, field)
    return model.contract.to_matrix(rows, field_prefix=field, locate=locate)


class RowExplanation(BaseModel):
    """One row: the prediction (as /predict answers it), the base value(s) and the
    attributions. base + sum(attributions) == the output, per class, within
    ``additivity_tolerance``."""

    class_: str | None = Field(default=None, description="Classification: the likeliest class")
    probabilities: dict[str, float] | None = Field(
        default=None, description="Classification: the model's output, per class"
    )
    value: float | None = Field(default=None, description="Regression: the model's output")
    base_values: dict[str, float] | None = Field(
        default=None,
        description="Classification: the expected probability of each class over the "
        "background (an image model: the output for the background's mean image)",
    )
    base_value: float | None = Field(default=None, description="Regression: the base value")
    attributions: dict[str, Any] | list[Any] = Field(
        description="Classification: {class: {feature: attribution}}; regression: {feature: "
        "attribution}. An image model: [channel][row][column] maps instead of {feature: ...}"
    )
    additivity_error: float = Field(
        description="The largest |base + sum(attributions) - output| over the outputs"
    )

    model_config = {"populate_by_name": True, "alias_generator": lambda n: n.rstrip("_")}


class ExplainResponse(BaseModel):
    model: str
    version: str
    method: Literal["exact", "permutation", "partition"] = Field(
        description="shap's explainer: exact Shapley values (tables up to 10 features), "
        "sampled permutations (wider tables) or a partition of pixel blocks (images)"
    )
    output: Literal["probabilities", "value"] = Field(
        description="What is explained: the class probabilities, or the regression value"
    )
    background_rows: int = Field(
        description="Reference rows the masked features are drawn from "
        "(serving.explain_background_rows)"
    )
    additivity_tolerance: float
    explanations: list[RowExplanation]


def explain_errors() -> dict[int | str, dict[str, Any]]:
    """The documented answers of POST /explain besides the JSON 200."""
    error = {"model": ErrorResponse}
    return {
        200: {
            "description": "The explanation (JSON); with ?format=png, an image model's "
            "attribution maps of the likeliest class, one row of panels per input row",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        400: {**error, "description": "Invalid body or format; `field` names the culprit"},
        401: {**error, "description": "Missing or wrong API key (serving.api_keys)"},
        404: {**error, "description": "Version not loaded"},
        413: {**error, "description": "Over serving.explain_max_rows rows, or too large a body"},
        415: {**error, "description": "Body not sent as application/json"},
        501: {**error, "description": "shap is not installed: pip install 'trainsmart[explain]'"},
        503: {
            **error,
            "description": "No model loaded yet, or the explanation ran past "
            "serving.explain_timeout_s",
        },
    }


def format_parameter() -> dict[str, Any]:
    """``openapi_extra`` documenting the ``format`` query parameter."""
    return {
        "parameters": [
            {
                "name": "format",
                "in": "query",
                "required": False,
                "description": "json (default), or png: an image model's attribution maps",
                "schema": {"type": "string", "enum": ["json", "png"], "default": "json"},
            }
        ]
    }
