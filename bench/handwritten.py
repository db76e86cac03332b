"""The hand-written server of the HTTP table: Starlette, uvicorn and ONNX Runtime.

What a careful engineer would write in an afternoon for one model: JSON in
(``{"instances": [{feature: value}]}`` or ``{"columns": {feature: [values]}}``, the
bodies /predict takes), one ONNX Runtime call, JSON out in /predict's shape
(``{"predictions": [{"class", "probabilities"}]}``). No validation, cache, input log
or metrics: it is the ceiling /predict is measured against. A classifier only.

Run::

    python -m bench.handwritten --model model.onnx --port 8000 --features age,educ --classes 0,1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


def create_app(
    model: Path, features: list[str], classes: list[str], output: str = "probabilities"
) -> Starlette:
    """``POST /predict`` with ``model``; ``GET /readyz`` answers 200."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def matrix(body: dict[str, Any]) -> np.ndarray:
        if "columns" in body:
            columns = body["columns"]
            return np.array([columns[f] for f in features], dtype=np.float32).T.copy()
        return np.array([[r[f] for f in features] for r in body["instances"]], dtype=np.float32)

    async def predict(request: Request) -> JSONResponse:
        x = matrix(json.loads(await request.body()))
        (probabilities,) = session.run([output], {input_name: x})
        answers = [
            {
                "class": classes[int(np.argmax(p))],
                "probabilities": dict(zip(classes, p.tolist(), strict=True)),
            }
            for p in probabilities
        ]
        return JSONResponse({"predictions": answers})

    async def ready(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", ready)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--features", required=True, help="input columns, in order, comma-separated"
    )
    parser.add_argument("--classes", default="0,1", help="class labels, comma-separated")
    parser.add_argument("--output", default="probabilities", help="the ONNX output to answer")
    args = parser.parse_args()
    app = create_app(args.model, args.features.split(","), args.classes.split(","), args.output)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
