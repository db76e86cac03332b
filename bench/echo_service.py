"""The HTTP floors: endpoints that return their JSON body unchanged.

* ``app``: a FastAPI app with ``POST /echo``; run alone under uvicorn it is the
  plain-ASGI floor (``uvicorn bench.echo_service:app``).
* ``Echo``: the same app mounted on BentoML exactly like ``serving.service``
  (``bentoml.asgi_app``), so /predict : /echo isolates what trainsmart adds
  (validation, ONNX Runtime, cache, input log, metrics). Its worker count comes from
  ``BENCH_ECHO_WORKERS`` (default 1), read at import as BentoML needs it then.
* ``EchoQuiet``: ``Echo`` with BentoML's access log and metrics switched off through
  its service configuration (``logging.access.enabled``, ``metrics.enabled``).
* ``EchoNative``: a native ``@bentoml.api`` endpoint, ``POST /echo`` taking
  ``{"instances": [...]}`` (BentoML parses and validates the body itself).

Run one with ``bentoml serve bench.echo_service:EchoQuiet``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

WORKERS_ENV = "BENCH_ECHO_WORKERS"


def echo_app() -> FastAPI:
    """``POST /echo`` answers its body; ``GET /readyz`` answers 200."""
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(json.loads(await request.body()))

    @app.get("/readyz")
    async def ready() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app


app = echo_app()
WORKERS = int(os.environ.get(WORKERS_ENV, "1"))


@bentoml.service(name="echo", workers=WORKERS)
@bentoml.asgi_app(app, path="/")
class Echo:
    """Returns what it is sent."""


@bentoml.service(
    name="echo-quiet",
    workers=WORKERS,
    logging={"access": {"enabled": False}},
    metrics={"enabled": False},
)
@bentoml.asgi_app(echo_app(), path="/")
class EchoQuiet:
    """Returns what it is sent; no access log, no metrics."""


@bentoml.service(name="echo-native", workers=WORKERS)
class EchoNative:
    """Returns the rows it is sent, through BentoML's own request handling."""

    @bentoml.api
    async def echo(self, instances: list[dict[str, Any]]) -> dict[str, Any]:
        return {"instances": instances}
