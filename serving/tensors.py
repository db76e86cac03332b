"""Open Inference Protocol v2 JSON tensors: the infer request and response schema,
input tensors to rows of feature values, predictions to output tensors.

Two input layouts are accepted (``decode_inputs``):

- one tensor named like the contract's ``input_name`` (``"input"``), shape ``[n, features]``,
  a numeric datatype, values in contract feature order (categorical features as codes);
  for an image contract (``image_shape = [c, h, w]``) also ``[n, c, h, w]``, or ``[n, h, w]``
  when ``c`` is 1, the pixels in channel-row-column order;
- one tensor per feature, named like the feature, shape ``[n]`` or ``[n, 1]``, a numeric
  datatype, or ``BYTES`` for a feature whose categories are strings.

``data`` may be flat or nested (row-major); ``null`` stands for a missing value where the
contract allows one. The rows then go through the same validation as ``/predict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from trainsmart.errors import InvalidInput, clip
from trainsmart.registry import InputContract

FLOAT_TYPES = ("FP16", "FP32", "FP64")
INT_TYPES = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
NUMERIC_TYPES = (*INT_TYPES, *FLOAT_TYPES)

Dim = Annotated[StrictInt, Field(ge=0)]
Locate = Callable[[int, str], str]


class RequestInput(BaseModel):
    """One input tensor; ``data`` is JSON (flat or nested), binary data is not supported."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    shape: list[Dim]
    datatype: StrictStr
    parameters: dict[str, Any] | None = None
    data: list[Any]


class RequestOutput(BaseModel):
    """An output to return; ``parameters`` (``binary_data``...) are ignored: outputs are JSON."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """``POST /v2/models/{name}/infer``; unknown ``parameters`` are ignored."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    inputs: Annotated[list[RequestInput], Field(min_length=1)]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any]


class InferenceResponse(BaseModel):
    """``parameters.request_id`` is the input log's id, for ``/feedback``."""

    model_name: str
    model_version: str
    id: str
    parameters: dict[str, Any]
    outputs: list[ResponseOutput]


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


def parse_request(body: Any) -> InferenceRequest:
    """The validated request, or InvalidInput naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidInput.for_field("body", 'an object {"inputs": [...]}', body)
    try:
        return InferenceRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _where(tuple(first["loc"]))
        raise InvalidInput(f"field '{field}': {first['msg']}", field=field) from exc


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _values(tensor: RequestInput, shape: str, string_ok: bool) -> list[Any]:
    """The tensor's data, flat, after checking the datatype and the length against the shape."""
    field = f"inputs.{clip(tensor.name)}"
    accepted = (*NUMERIC_TYPES, "BYTES") if string_ok else NUMERIC_TYPES
    if tensor.datatype not in accepted:
        raise InvalidInput(
            f"field '{field}.datatype': expected one of {', '.join(accepted)}, got "
            f"{clip(repr(tensor.datatype))}",
            field=f"{field}.datatype",
        )
    values = _flatten(tensor.data)
    if len(values) != math.prod(tensor.shape):
        raise InvalidInput(
            f"field '{field}.data': shape {tensor.shape} needs {math.prod(tensor.shape)} "
            f"values, got {len(values)}",
            field=f"{field}.data",
        )
    if tensor.datatype in INT_TYPES:
        kind, ok = "integers", lambda v: isinstance(v, int) and not isinstance(v, bool)
    elif tensor.datatype in FLOAT_TYPES:
        kind, ok = "numbers", lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    else:
        kind, ok = "strings", lambda v: isinstance(v, str)
    for i, value in enumerate(values):
        if value is not None and not ok(value):
            raise InvalidInput.for_field(
                f"{field}.data[{i}]", f"{kind} (datatype {tensor.datatype}, shape {shape})", value
            )
    return values


def decode_inputs(
    inputs: list[RequestInput], contract: InputContract
) -> tuple[list[dict[str, Any]], Locate]:
    """Rows of feature values from the input tensors, and how to name a value in errors."""
    names = contract.feature_names
    if len(inputs) == 1 and inputs[0].name == contract.input_name:
        tensor = inputs[0]
        field = f"inputs.{clip(tensor.name)}"
        width = len(names)
        shapes = contract.input_shapes()  # [features], and [c, h, w] / [h, w] for images
        if not tensor.shape or tensor.shape[0] < 1 or tensor.shape[1:] not in shapes:
            allowed = " or ".join(str(["n", *s]).replace("'", "") for s in shapes)
            shown = names if len(names) <= 8 else [*names[:3], "...", names[-1]]
            raise InvalidInput.for_field(
                f"{field}.shape", f"{allowed} with n >= 1 (features {shown})", tensor.shape
            )
        layout = str(["n", *tensor.shape[1:]]).replace("'", "")
        values = _values(tensor, layout, string_ok=False)
        rows = [
            dict(zip(names, values[i : i + width], strict=True))
            for i in range(0, len(values), width)
        ]
        return rows, lambda row, feature: f"{field}[{row}].{feature}"
    by_name: dict[str, RequestInput] = {}
    for tensor in inputs:
        where = f"inputs.{clip(tensor.name)}"
        if tensor.name not in names:
            raise InvalidInput(
                f"field '{where}': unknown input; send one tensor "
                f"'{contract.input_name}' [n, {len(names)}] or one tensor per feature {names}",
                field=where,
            )
        if tensor.name in by_name:
            raise InvalidInput(f"field '{where}': sent twice; send each feature once", field=where)
        by_name[tensor.name] = tensor
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InvalidInput(
            f"field 'inputs.{missing[0]}': missing; send one tensor per feature {names}, "
            f"or one tensor '{contract.input_name}' [n, {len(names)}]",
            field=f"inputs.{missing[0]}",
        )
    n = by_name[names[0]].shape[0] if by_name[names[0]].shape else 0
    columns: dict[str, list[Any]] = {}
    for spec in contract.features:
        tensor = by_name[spec.name]
        if tensor.shape not in ([n], [n, 1]) or n < 1:
            raise InvalidInput.for_field(
                f"inputs.{spec.name}.shape",
                f"[n] or [n, 1] with the same n >= 1 for every feature (n = {n} from '{names[0]}')",
                tensor.shape,
            )
        columns[spec.name] = _values(tensor, "[n]", string_ok=spec.string_categories)
    rows = [{name: columns[name][i] for name in names} for i in range(n)]
    return rows, lambda row, feature: f"inputs.{feature}[{row}]"


def requested_outputs(outputs: list[RequestOutput] | None, contract: InputContract) -> list[str]:
    """Names of the outputs to return (all of the contract's when the request names none):
    ``probabilities`` and ``class``, or ``value`` for regression."""
    known = [name for name, _, _ in contract.outputs()]
    if not outputs:
        return known
    for i, output in enumerate(outputs):
        if output.name not in known:
            raise InvalidInput.for_field(f"outputs[{i}].name", f"one of {known}", output.name)
    return list(dict.fromkeys(o.name for o in outputs))


def encode_outputs(
    names: list[str], contract: InputContract, predictions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Output tensors (flat ``data``) for the predictions of one request."""
    n = len(predictions)
    classes = contract.classes
    if contract.task == "regression":
        value = {
            "name": "value",
            "datatype": "FP32",
            "shape": [n, 1],
            "data": [p["value"] for p in predictions],
        }
        return [value for name in names if name == "value"]
    tensors = {
        "probabilities": {
            "name": "probabilities",
            "datatype": "FP32",
            "shape": [n, len(classes)],
            "data": [p["probabilities"][c] for p in predictions for c in classes],
        },
        "class": {
            "name": "class",
            "datatype": "BYTES",
            "shape": [n],
            "data": [p["class"] for p in predictions],
        },
    }
    return [tensors[name] for name in names]
