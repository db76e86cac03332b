"""Open Inference Protocol v2 REST (the KServe / Triton protocol), beside ``/predict``.

Routes (``add_v2_routes``)::

    GET  /v2                                       server metadata
    GET  /v2/health/live                           200 while the process answers
    GET  /v2/health/ready                          200 once a model is loaded, else 503
    GET  /v2/models/{name}[/versions/{version}]    model metadata
    GET  /v2/models/{name}[/versions/{version}]/ready
    POST /v2/models/{name}[/versions/{version}]/infer

Readiness answers 200 or 503 (the spec leaves the non-ready status open; 503 matches
``/readyz`` and tells load balancers to retry). A version in the path pins the request:
the production version or the loaded candidate (``trainsmart models candidate``);
any other version is a 404. Infer routes need an API key when ``serving.api_keys``
is set (``trainsmart.auth``); metadata and health stay open. Inference goes through
``Predictor.predict_rows``, the path of ``/predict``: same validation, cache and input log.
Errors are ``{"error": ..., "field": ...}``. JSON tensors only: the binary data extension
(``Inference-Header-Content-Length``) is refused with a 415.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import trainsmart
from serving.http import API_KEY_AUTH, ErrorResponse, answer, body_schema, read_json
from serving.predictor import Predictor
from serving.tensors import (
    InferenceRequest,
    InferenceResponse,
    decode_inputs,
    encode_outputs,
    parse_request,
    requested_outputs,
)
from trainsmart.auth import check_api_key
from trainsmart.errors import ModelNotServed, NotReady, UnsupportedMediaType
from trainsmart.names import check_name
from trainsmart.registry import InputContract

PLATFORM = "onnxruntime_onnx"


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    """-1 marks the batch dimension."""


class ModelMetadata(BaseModel):
    """``parameters`` lists the feature order of ``input`` and the classes of the outputs."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any]


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid name, version or tensors"},
    404: {
        "model": ErrorResponse,
        "description": "Model not served, or a version that is neither production nor the "
        "candidate",
    },
    413: {"model": ErrorResponse, "description": "Too many rows or too large a body"},
    415: {"model": ErrorResponse, "description": "Not JSON (binary tensors are not supported)"},
    503: {"model": ErrorResponse, "description": "No model loaded yet"},
}


INFER_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    401: {"model": ErrorResponse, "description": "Missing or wrong API key (serving.api_keys)"},
}


def _served(predictor: Predictor, name: str, version: str | None) -> None:
    """Check the path's name and version: safe, and the name this service serves."""
    check_name(name, "model_name")
    if version is not None:
        check_name(version, "model_version")
    if name != predictor.holder.name:
        raise ModelNotServed(name, predictor.holder.name)


def _metadata(predictor: Predictor, name: str, version: str | None) -> dict[str, Any]:
    _served(predictor, name, version)
    model = predictor.model(version)
    contract = model.contract
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": PLATFORM,
        "inputs": [
            {"name": contract.input_name, "datatype": "FP32", "shape": [-1, len(contract.features)]}
        ],
        "outputs": [
            {"name": name, "datatype": datatype, "shape": shape}
            for name, datatype, shape in contract.outputs()
        ],
        "parameters": _parameters(contract),
    }


def _parameters(contract: InputContract) -> dict[str, Any]:
    """Feature order of ``input``, the task, and the classes or the image shape."""
    parameters: dict[str, Any] = {"features": contract.feature_names, "task": contract.task}
    if contract.task == "classification":
        parameters["classes"] = contract.classes
    if contract.image_shape:
        parameters["image_shape"] = contract.image_shape
    return parameters


def _ready(predictor: Predictor, name: str | None, version: str | None) -> JSONResponse:
    try:
        if name is None:
            predictor.holder.current()
        else:
            _served(predictor, name, version)
            predictor.model(version)
    except NotReady as exc:
        return JSONResponse({"ready": False, "error": exc.message}, status_code=503)
    return JSONResponse({"ready": True})


def _infer(predictor: Predictor, body: Any, version: str | None) -> dict[str, Any]:
    model = predictor.model(version)
    request = parse_request(body)
    outputs = requested_outputs(request.outputs, model.contract)
    rows, locate = decode_inputs(request.inputs, model.contract)
    served = predictor.predict_rows(rows, model=model, field="inputs", locate=locate)
    return {
        "model_name": model.name,
        "model_version": model.version,
        "id": request.id if request.id is not None else served.request_id,
        "parameters": {"request_id": served.request_id},
        "outputs": encode_outputs(outputs, model.contract, served.predictions),
    }


def add_v2_routes(
    app: FastAPI,
    get_predictor: Callable[[], Predictor],
) -> None:
    """Add the Open Inference Protocol routes to ``app``; the infer routes need an API key
    when ``serving.api_keys`` is set (``trainsmart.auth.check_api_key``)."""

    def get(
        path: str,
        model: type[BaseModel],
        summary: str,
        answer: Callable[..., Awaitable[JSONResponse]],
    ) -> None:
        app.add_api_route(
            path, answer, methods=["GET"], response_model=model, responses=ERRORS,
            summary=summary, tags=["Open Inference Protocol v2"],
        )  # fmt: skip

    async def server_metadata() -> JSONResponse:
        return JSONResponse(
            {"name": "trainsmart", "version": trainsmart.__version__, "extensions": []}
        )

    async def live() -> JSONResponse:
        return JSONResponse({"live": True})

    async def ready() -> JSONResponse:
        return _ready(get_predictor(), None, None)

    async def model_metadata(name: str) -> JSONResponse:
        return JSONResponse(_metadata(get_predictor(), name, None))

    async def version_metadata(name: str, version: str) -> JSONResponse:
        return JSONResponse(_metadata(get_predictor(), name, version))

    async def model_ready(name: str) -> JSONResponse:
        return _ready(get_predictor(), name, None)

    async def version_ready(name: str, version: str) -> JSONResponse:
        return _ready(get_predictor(), name, version)

    async def infer(request: Request, name: str, version: str | None) -> JSONResponse:
        predictor = get_predictor()
        settings = predictor.settings
        with predictor.timed("v2_infer"):
            check_api_key(request.headers, settings.api_keys)
            _served(predictor, name, version)
            if "inference-header-content-length" in request.headers:
                raise UnsupportedMediaType(
                    "header 'Inference-Header-Content-Length': binary tensor data is not "
                    "supported; send JSON data (tritonclient: binary_data=False)",
                    field="Inference-Header-Content-Length",
                )
            body = await read_json(request, settings.max_body_bytes, untyped_ok=True)
            answered = await answer(
                settings,
                request,
                _infer,
                predictor,
                body,
                version,
                remote_state=predictor.remote_state,
            )
            return JSONResponse(answered)

    async def model_infer(request: Request, name: str) -> JSONResponse:
        return await infer(request, name, None)

    async def version_infer(request: Request, name: str, version: str) -> JSONResponse:
        return await infer(request, name, version)

    get("/v2", ServerMetadata, "Server metadata", server_metadata)
    get("/v2/health/live", Live, "Liveness: 200 while the server answers", live)
    get("/v2/health/ready", Ready, "Readiness: 200 once a model is loaded, else 503", ready)
    get("/v2/models/{name}", ModelMetadata, "Model metadata", model_metadata)
    get("/v2/models/{name}/versions/{version}", ModelMetadata, "Model metadata", version_metadata)
    get("/v2/models/{name}/ready", Ready, "Model readiness (200 or 503)", model_ready)
    get(
        "/v2/models/{name}/versions/{version}/ready", Ready, "Model version readiness",
        version_ready,
    )  # fmt: skip
    for path, endpoint in (
        ("/v2/models/{name}/infer", model_infer),
        ("/v2/models/{name}/versions/{version}/infer", version_infer),
    ):
        app.add_api_route(
            path, endpoint, methods=["POST"], response_model=InferenceResponse,
            responses=INFER_ERRORS, tags=["Open Inference Protocol v2"],
            summary="Predict with JSON tensors (Open Inference Protocol v2)",
            openapi_extra={**body_schema(InferenceRequest), **API_KEY_AUTH},
        )  # fmt: skip
