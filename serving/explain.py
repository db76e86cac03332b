"""``POST /explain``: per-row SHAP attributions of the served model (``serving/explainers.py``).

The body is /predict's (``instances`` or ``columns``, optionally ``version``), parsed and
validated the same way, with the same 4xx naming the field, plus its own row cap
(``serving.explain_max_rows``: 413). ``?format=png`` answers an image model's attribution
maps as image/png (``serving/heatmap.py``); the default is JSON::

    {"model": "fair", "version": "v3", "method": "exact", "output": "probabilities",
     "background_rows": 100, "additivity_tolerance": 1e-06,
     "explanations": [{"class": "1", "probabilities": {"0": 0.31, "1": 0.69},
                       "base_values": {"0": 0.72, "1": 0.28},
                       "attributions": {"0": {"age": 0.02, ...}, "1": {"age": -0.02, ...}},
                       "additivity_error": 2.2e-16}]}

A regression row has ``value``, ``base_value`` and ``attributions: {feature: number}``; an
image model's attributions are ``[channel][row][column]`` maps (per class). For every row
and output: base + sum of attributions == the model's output, within
``additivity_tolerance``.

The computation runs in this worker's explain threads (``serving.explain_concurrency``),
never on the event loop; past ``serving.explain_timeout_s`` the request answers 503 and the
computation stops at its next model call. The first /explain of a version in a worker also
builds its explainer: imports shap, reads the reference sample and compiles shap's numba
kernels (seconds, once); a request that cannot wait for it within the timeout answers 503
with ``Retry-After`` while the build goes on. Every request thus ends within the timeout,
well inside BentoML's own (30 s). Without shap: 501 naming
``pip install 'trainsmart[explain]'``.

Explanations are not predictions: nothing goes to the input log, the cache or the shadow
candidate (the monitor's windows hold traffic only), and /predict's metrics do not count
them; ``trainsmart_explain_requests_total`` and ``trainsmart_explain_duration_seconds`` do.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from serving.explain_api import (
    ExplainResponse,
    explain_errors,
    explain_matrix,
    explain_model,
    format_parameter,
)
from serving.explainers import (
    ADDITIVITY_TOLERANCE,
    Attribution,
    Deadline,
    ExplainTimeout,
    ExplainWarming,
    VersionExplainer,
    background,
    import_shap,
)
from serving.http import API_KEY_AUTH, body_schema, read_json
from serving.predictor import Predictor
from serving.runtime import LoadedModel
from trainsmart.auth import check_api_key
from trainsmart.errors import InvalidInput, TrainsmartError

logger = logging.getLogger(__name__)

KEPT_VERSIONS = 2
"""Versions whose explainer (background, masker) a worker keeps: production and candidate."""


class ExplainService:
    """The /explain requests of one predictor: its threads and its explainers per version."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.executor = ThreadPoolExecutor(  # its size is fixed: read once
            max_workers=predictor.settings.explain_concurrency, thread_name_prefix="explain"
        )
        self._explainers: OrderedDict[tuple[str, str], VersionExplainer] = OrderedDict()
        self._building: dict[tuple[str, str], Future[VersionExplainer]] = {}
        self._lock = threading.RLock()  # a done callback may run inside it

    def cached(self, model: LoadedModel) -> VersionExplainer | None:
        """The explainer built for this loaded ``model``, if any (cheap: on the event loop)."""
        key = (model.name, model.version)
        with self._lock:
            found = self._explainers.get(key)
            if found is None or found.model is not model:
                return None
            self._explainers.move_to_end(key)
            return found

    def explainer(self, model: LoadedModel) -> VersionExplainer:
        """The version's explainer, built on first use (in a thread: shap, the background,
        a warm-up row that compiles shap's kernels); the least recently used beyond
        KEPT_VERSIONS is dropped."""
        found = self.cached(model)
        if found is not None:
            return found
        shap = import_shap()
        settings = self.predictor.settings
        bg = background(self.predictor.registry, model, settings.explain_background_rows)
        built = VersionExplainer(shap, model, bg, settings.explain_max_evals)
        built.explain(bg[:1], deadline=float("inf"))
        with self._lock:
            self._explainers[(model.name, model.version)] = built
            while len(self._explainers) > KEPT_VERSIONS:
                self._explainers.popitem(last=False)
        return built

    def building(self, model: LoadedModel) -> Future[VersionExplainer]:
        """The version's explainer being built in an explain thread (one build per version
        at a time; every request for it waits on the same one)."""
        key = (model.name, model.version)
        with self._lock:
            future = self._building.get(key)
            if future is None:
                future = self._building[key] = self.executor.submit(self.explainer, model)
                future.add_done_callback(lambda done: self._forget(key, done))
            return future

    def _forget(self, key: tuple[str, str], done: Future[VersionExplainer]) -> None:
        with self._lock:
            if self._building.get(key) is done:
                del self._building[key]

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def attributions(
        self, model: LoadedModel, matrix: np.ndarray
    ) -> tuple[VersionExplainer, Attribution]:
        """The explanation of ``matrix`` (and the explainer that made it) within
        serving.explain_timeout_s, or 503: ExplainWarming while the version's explainer is
        still being built (the build goes on), ExplainTimeout past the limit."""
        timeout = self.predictor.settings.explain_timeout_s
        deadline = time.monotonic() + timeout
        explainer = self.cached(model)
        if explainer is None:  # once per version and worker; ExplainUnavailable (501)
            build = asyncio.wrap_future(self.building(model))
            build.add_done_callback(lambda done: done.cancelled() or done.exception())  # seen
            try:  # shielded: a request that gives up leaves the build running
                explainer = await asyncio.wait_for(asyncio.shield(build), timeout)
            except TimeoutError:
                raise ExplainWarming(model.name, model.version, timeout) from None
        left = max(deadline - time.monotonic(), 0.0)
        try:
            result: Attribution = await asyncio.wait_for(
                self.run(explainer.explain, matrix, deadline), left
            )
        except (TimeoutError, Deadline):
            raise ExplainTimeout(timeout, len(matrix)) from None
        return explainer, result

    async def answer(self, request: Request) -> Response:
        """One /explain request, counted and timed with its final status."""
        predictor = self.predictor
        settings = predictor.settings
        started = time.perf_counter()
        labels = {"model": predictor.holder.name, "version": "-"}
        status = 200
        try:
            check_api_key(request.headers, settings.api_keys)
            fmt = request.query_params.get("format", "json")
            if fmt not in ("json", "png"):
                raise InvalidInput.for_field("format", "'json' or 'png'", fmt)
            body = await read_json(request, settings.max_body_bytes)
            model = explain_model(predictor, body)
            labels = {"model": model.name, "version": model.version}
            matrix = explain_matrix(predictor, model, body, settings.explain_max_rows)
            if fmt == "png" and model.contract.image_shape is None:
                raise InvalidInput(
                    "field 'format': png draws an image model's attribution maps; "
                    f"{model.name}:{model.version} takes a table, ask for json",
                    field="format",
                )
            explainer, attribution = await self.attributions(model, matrix)
            if fmt == "png":
                png = await self.run(render_png, model, matrix, attribution)
                return Response(png, media_type="image/png")
            return JSONResponse(explanation(model, attribution, explainer.background_rows))
        except TrainsmartError as exc:
            status = int(exc.status_code)
            raise
        except Exception:
            status = 500
            raise
        finally:
            metrics = predictor.metrics
            metrics.explain_requests.labels(**labels, status=str(status)).inc()
            metrics.explain_duration.labels(**labels).observe(time.perf_counter() - started)


def render_png(model: LoadedModel, matrix: np.ndarray, attribution: Attribution) -> bytes:
    from serving.heatmap import attribution_png  # lazy: matplotlib, only for ?format=png

    return attribution_png(model.contract, matrix, attribution)


def _nested(values: np.ndarray, shape: list[int] | None) -> Any:
    return values.reshape(shape).tolist() if shape else values.tolist()


def explanation(model: LoadedModel, attribution: Attribution, background_rows: int) -> dict:
    """The JSON answer (see the module docstring)."""
    contract = model.contract
    names, shape = contract.feature_names, contract.image_shape
    rows: list[dict[str, Any]] = []
    errors = attribution.additivity_error
    for i in range(len(attribution.values)):
        row: dict[str, Any] = dict(contract.prediction(attribution.output[i]))
        values = attribution.values[i]
        if contract.task == "regression":
            row["base_value"] = float(attribution.base[i, 0])
            row["attributions"] = (
                _nested(values[:, 0], shape)
                if shape
                else {n: float(v) for n, v in zip(names, values[:, 0], strict=True)}
            )
        else:
            classes = contract.classes
            row["base_values"] = {
                c: float(b) for c, b in zip(classes, attribution.base[i], strict=True)
            }
            row["attributions"] = {
                c: _nested(values[:, k], shape)
                if shape
                else {n: float(v) for n, v in zip(names, values[:, k], strict=True)}
                for k, c in enumerate(classes)
            }
        row["additivity_error"] = float(errors[i])
        if errors[i] > ADDITIVITY_TOLERANCE:
            logger.warning(
                "%s:%s: /explain row %d adds up to its output within %.2g only (tolerance %g)",
                model.name, model.version, i, errors[i], ADDITIVITY_TOLERANCE,
            )  # fmt: skip
        rows.append(row)
    return {
        "model": model.name,
        "version": model.version,
        "method": attribution.method,
        "output": "value" if contract.task == "regression" else "probabilities",
        "background_rows": background_rows,
        "additivity_tolerance": ADDITIVITY_TOLERANCE,
        "explanations": rows,
    }


def add_explain_route(
    app: FastAPI,
    get_predictor: Callable[[], Predictor],
    request_model: type[BaseModel],
) -> None:
    """Add ``POST /explain`` to ``app``; ``request_model`` documents the body (/predict's).
    Each predictor gets its :class:`ExplainService` on its first /explain."""
    services: weakref.WeakKeyDictionary[Predictor, ExplainService] = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    async def endpoint(request: Request) -> Response:
        predictor = get_predictor()
        with lock:
            service = services.get(predictor)
            if service is None:
                service = services[predictor] = ExplainService(predictor)
        return await service.answer(request)

    app.add_api_route(
        "/explain",
        endpoint,
        methods=["POST"],
        name="explain",
        summary="Explain each row: SHAP attributions per feature (and class) with the base "
        "value; an image model's maps as PNG with ?format=png",
        response_model=ExplainResponse,
        responses=explain_errors(),
        openapi_extra={**body_schema(request_model), **API_KEY_AUTH, **format_parameter()},
    )
