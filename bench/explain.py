"""POST /explain latency per row, for the default tabular model (the Fair MLP).

In process, through the same code the HTTP endpoint runs (``serving.api.create_api``'s
/explain route over a real ``Predictor``, driven by an ASGI test client: body parsing,
contract validation, the explain thread, shap over the ONNX Runtime session, the JSON
answer), without a network hop. Measured: the first call of the process (shap's import,
the background sample, numba's compilation of shap's kernels), then 1 row and
``serving.explain_max_rows`` rows per request, ``repeats`` times each (median).

Run alone: ``python -m bench.explain`` (trains the Fair model in a temporary folder first,
about a minute on 2 cores); ``section(config)`` reuses a trained model's settings file.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import load_settings
from bench.models import train_model
from serving.api import create_api
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from serving.settings import ServingSettings
from trainsmart.registry import Registry
from trainsmart.state import InputLog, open_database


def _rows(registry: Registry, name: str, version: str, n: int) -> list[dict[str, Any]]:
    """``n`` rows of the version's reference sample, as a client sends them (no NaN)."""
    frame = registry.get(name, version).reference().head(n).astype(object)
    records: list[dict[str, Any]] = frame.where(frame.notna(), None).to_dict("records")
    return records


def measure(config: Path, repeats: int = 5) -> dict[str, Any]:
    """Timings (ms) of /explain on the production model of ``config``."""
    settings = load_settings(config)
    db = open_database(settings)
    registry = Registry(settings.paths.model_store, db)
    metrics = ServingMetrics(CollectorRegistry())
    holder = ModelHolder(registry, settings.model_name, settings.serving)
    holder.refresh()
    # the first call waits for the explainer's build (a worker answers 503 + Retry-After
    # past serving.explain_timeout_s while it goes on): measured here in full
    serving = settings.serving.model_copy(update={"explain_timeout_s": 600.0})
    predictor = Predictor(holder, None, InputLog(db), metrics, serving, registry)
    client = TestClient(create_api(lambda: predictor))
    model = holder.current()
    cap = serving.explain_max_rows
    rows = _rows(registry, model.name, model.version, cap)

    def call(n: int) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        answer = client.post("/explain", json={"instances": rows[:n]})
        elapsed = (time.perf_counter() - started) * 1000.0
        if answer.status_code != 200:
            raise RuntimeError(f"/explain answered {answer.status_code}: {answer.text}")
        body: dict[str, Any] = answer.json()
        return elapsed, body

    first, body = call(1)
    result: dict[str, Any] = {
        "model": f"{model.name}:{model.version}",
        "features": len(model.contract.features),
        "method": body["method"],
        "background": body["background_rows"],
        "first_ms": first,
        "cap": cap,
        "repeats": repeats,
        "per_request": {},
        "worst_additivity": 0.0,
        "tolerance": body["additivity_tolerance"],
    }
    for n in sorted({1, cap}):
        times = []
        for _ in range(repeats):
            elapsed, body = call(n)
            times.append(elapsed)
            worst = max(row["additivity_error"] for row in body["explanations"])
            result["worst_additivity"] = max(result["worst_additivity"], worst)
        result["per_request"][n] = statistics.median(times)
    db.close()
    return result


def _first_call(seconds: float) -> str:
    """Whether a worker's first /explain fits the default timeout, from the figure."""
    limit = ServingSettings().explain_timeout_s
    if seconds <= limit:
        return f"within the default serving.explain_timeout_s ({limit:g} s)."
    return (
        f"over the default serving.explain_timeout_s ({limit:g} s), so a worker's first "
        "request answers 503 with Retry-After while the build goes on."
    )


def _batching(one: float, cap: float) -> str:
    """What batching rows into one request changes per row, from the two figures."""
    if 0.9 <= one / cap <= 1.1:
        return (
            "about the same per row: the cost is the model evaluations of each row's "
            "coalitions, which rows of one request do not share."
        )
    if cap < one:
        return f"{one / cap:.1f}x cheaper per row (the fixed per-request costs are shared)."
    return f"{cap / one:.1f}x the single row's cost per row (batching does not pay here)."


def section(config: Path | None = None, repeats: int = 5) -> list[str]:
    """The benchmark's Markdown section; trains the Fair model first when ``config`` is None."""
    if config is None:
        workdir = Path(tempfile.mkdtemp(prefix="trainsmart-bench-explain-"))
        config, _ = train_model(workdir, "fair")
    m = measure(config, repeats)
    per_row = {n: ms / n for n, ms in m["per_request"].items()}
    one, cap = per_row[1], per_row[m["cap"]]
    lines = [
        "## 8. POST /explain: latency per row (in process, the default tabular model)",
        "",
        f"{m['model']}: {m['features']} features, shap's **{m['method']}** explainer over "
        f"the ONNX Runtime session, background of {m['background']} reference rows; the "
        f"median of {m['repeats']} requests through the /explain route (ASGI test client, no "
        "network).",
        "",
        "| rows per request | ms per request | ms per row |",
        "|---|---|---|",
        *(f"| {n} | {ms:.1f} | {per_row[n]:.1f} |" for n, ms in sorted(m["per_request"].items())),
        "",
        f"- The first /explain of the process took {m['first_ms']:.0f} ms (shap's import and "
        f"the compilation of its numba kernels, once per worker): "
        f"{m['first_ms'] / max(m['per_request'][1], 1e-9):.0f}x a warm one-row request; "
        + _first_call(m["first_ms"] / 1000.0),
        f"- A full request ({m['cap']} rows, serving.explain_max_rows) costs "
        f"{cap:.1f} ms per row against {one:.1f} ms for a single row: " + _batching(one, cap),
        f"- Worst additivity error over every answered row: {m['worst_additivity']:.1e} "
        f"(stated tolerance {m['tolerance']:.0e}: "
        + ("within it)." if m["worst_additivity"] <= m["tolerance"] else "EXCEEDED).")
        + "",
    ]
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    print("\n".join(section()))
    print(f"\n(ran in {time.perf_counter() - started:.0f} s)")
