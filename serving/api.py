"""The HTTP API (FastAPI), built by a factory from the objects it needs.

BentoML mounts this app on its server (``serving.service``); tests can drive
it in-process with ``TestClient(create_api(lambda: predictor))``. Bodies are
parsed by ``serving.http``, not by FastAPI, so every 4xx is ours:
``{"error": ..., "field": ...}``. The body limit is the predictor's
``settings.max_body_bytes``. The Open Inference Protocol routes (``/v2/...``)
come from ``serving.v2``, the admin routes (``/admin/...``) from ``serving.admin``.
Small requests are answered on the event loop, larger ones in the thread pool
(``serving.http.answer``).

Security (``trainsmart.auth``): with ``serving.api_keys`` set, /predict, /feedback
and /v2 infer need one of the keys (``Authorization: Bearer KEY`` or ``X-API-Key``),
checked inline by ``check_api_key``;
the admin routes need ``serving.admin_token`` and answer 403 while it is unset.
Health, metadata and BentoML's /metrics, /livez, /readyz stay open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.admin import add_admin_routes
from serving.explain import add_explain_route
from serving.http import (
    API_KEY_AUTH,
    ErrorResponse,
    answer,
    body_schema,
    document_api_keys,
    read_json,
)
from serving.logwrites import collecting
from serving.predictor import Predictor
from serving.v2 import add_v2_routes
from trainsmart.auth import check_api_key
from trainsmart.errors import TrainsmartError

logger = logging.getLogger(__name__)


class Prediction(BaseModel):
    """One row's answer: ``class`` and ``probabilities`` from a classifier, ``value`` from
    a regression model (``InputContract.prediction``); ``cached`` says it came from the cache."""

    class_: str | None = Field(default=None, description="Classification: the likeliest class")
    probabilities: dict[str, float] | None = Field(
        default=None, description="Classification: the probability of each class"
    )
    value: float | None = Field(default=None, description="Regression: the predicted value")
    cached: bool

    model_config = {"populate_by_name": True, "alias_generator": lambda n: n.rstrip("_")}


class PredictResponse(BaseModel):
    request_id: str
    model: str
    version: str
    predictions: list[Prediction]


class PredictRequest(BaseModel):
    """Exactly one of ``instances`` (one object per row) or ``columns`` (one list per feature,
    all of the same length); ``version`` pins the request to a loaded version. A row of an
    image model may be ``{"image": [[...], ...]}`` (``[c][h][w]``, or ``[h][w]`` with one
    channel) instead of its ``pixel_*`` features."""

    instances: list[dict[str, float | int | str | list[Any] | None]] | None = None
    columns: dict[str, list[float | int | str | None]] | None = None
    version: str | None = Field(
        default=None,
        description="Pin the request to this version: the production version or the loaded "
        "candidate (`trainsmart models candidate`, PUT /admin/candidate); any other is a "
        "404. Left out: the production version answers.",
        examples=["v2"],
    )


class FeedbackRequest(BaseModel):
    request_id: str
    label: str | int | float = Field(
        description="The true class (classification) or the true value, a JSON number (regression)"
    )
    row_index: int = 0


class FeedbackResponse(BaseModel):
    request_id: str
    row_index: int
    label: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid body; `field` names the culprit"},
    401: {"model": ErrorResponse, "description": "Missing or wrong API key (serving.api_keys)"},
    404: {"model": ErrorResponse, "description": "Unknown request id or version not loaded"},
    413: {"model": ErrorResponse, "description": "Too many rows or too large a body"},
    415: {"model": ErrorResponse, "description": "Body not sent as application/json"},
    503: {"model": ErrorResponse, "description": "No model loaded yet"},
}


ROUTES: dict[str, Callable[[Predictor, Any], dict[str, Any]]] = {
    "/predict": Predictor.predict,
    "/feedback": Predictor.feedback,
}
"""The JSON routes: path -> the predictor's handler (served by :func:`create_api` and,
past FastAPI's routing, by :func:`create_direct`)."""


def error_response(exc: TrainsmartError) -> JSONResponse:
    """The answer to an error of the tree: its status, ``{"error": ..., "field": ...}``."""
    return JSONResponse(
        exc.to_dict(), status_code=int(exc.status_code), headers=exc.headers() or None
    )


def crash_response(exc: Exception) -> JSONResponse:
    """The answer to anything else: a 500 that names the exception's type, logged in full."""
    logger.error("unexpected error while answering a request", exc_info=exc)
    return JSONResponse(
        {"error": f"internal error ({type(exc).__name__}); the server log has the details"},
        status_code=500,
    )


async def run_route(
    predictor: Predictor,
    name: str,
    handler: Callable[[Predictor, Any], dict[str, Any]],
    request: Request,
) -> dict[str, Any]:
    """One JSON route: API key, body, the handler (inline or in the thread pool) with its
    input-log writes grouped (``serving/logwrites.py``), timed into
    ``trainsmart_request_duration_seconds`` as ``name``."""
    settings = predictor.settings
    with predictor.timed(name):
        check_api_key(request.headers, settings.api_keys)
        body = await read_json(request, settings.max_body_bytes)
        async with collecting():  # answered once its rows are committed (group commit)
            return await answer(
                settings, request, handler, predictor, body, remote_state=predictor.remote_state
            )


def create_direct(get_predictor: Callable[[], Predictor], fallback: ASGIApp) -> ASGIApp:
    """An ASGI app that answers :data:`ROUTES` without FastAPI's routing and middleware
    (the same answers as :func:`create_api`'s routes) and hands every other request to
    ``fallback``. ``serving/fastpath.py`` puts it in front of BentoML."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        handler = ROUTES.get(scope["path"]) if scope["method"] == "POST" else None
        if handler is None:
            await fallback(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = JSONResponse(
                await run_route(get_predictor(), scope["path"].strip("/"), handler, request)
            )
        except TrainsmartError as exc:
            response = error_response(exc)
        except Exception as exc:
            response = crash_response(exc)
        await response(scope, receive, send)

    return app


def create_api(get_predictor: Callable[[], Predictor]) -> FastAPI:
    """Build the app; ``get_predictor`` returns the live Predictor at request time."""
    app = FastAPI(
        title="trainsmart",
        description="Predictions from the production model, and ground-truth feedback.",
        version="0.1.0",
    )

    @app.exception_handler(TrainsmartError)
    async def _error(_: Request, exc: TrainsmartError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # unknown path or method: the same error shape as every other answer
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        return crash_response(exc)

    def add_route(
        path: str,
        handler: Callable[[Predictor, Any], dict[str, Any]],
        request_model: type[BaseModel],
        response_model: type[BaseModel],
        summary: str,
    ) -> None:
        name = path.strip("/")

        async def endpoint(request: Request) -> JSONResponse:
            return JSONResponse(await run_route(get_predictor(), name, handler, request))

        app.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            name=name,
            summary=summary,
            response_model=response_model,
            responses=ERRORS,
            openapi_extra={**body_schema(request_model), **API_KEY_AUTH},
        )

    add_route(
        "/predict", Predictor.predict, PredictRequest, PredictResponse,
        "Predict each row (class and probabilities, or value) with the production model",
    )  # fmt: skip
    add_route(
        "/feedback", Predictor.feedback, FeedbackRequest, FeedbackResponse,
        "Record the true label (class or value) of a served row",
    )  # fmt: skip
    add_explain_route(app, get_predictor, PredictRequest)  # POST /explain (serving/explain.py)
    add_v2_routes(app, get_predictor)
    add_admin_routes(app, get_predictor)
    document_api_keys(app)
    return app
