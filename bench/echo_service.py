"""The HTTP floor: a BentoML service that returns its JSON body unchanged.

It is mounted exactly like ``serving.service`` (a FastAPI app on BentoML), so
the ratio /predict : /echo isolates what trainsmart adds: validation, ONNX
Runtime, cache, input log and metrics.
"""

from __future__ import annotations

import json

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/echo")
async def echo(request: Request) -> JSONResponse:
    return JSONResponse(json.loads(await request.body()))


@bentoml.service(name="echo", workers=1)
@bentoml.asgi_app(app, path="/")
class Echo:
    """Returns what it is sent."""
