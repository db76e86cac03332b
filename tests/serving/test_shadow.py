"""In-process tier: shadow mode mirrors production rows to the candidate, off the request path,
and nothing the candidate does reaches a response."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.api import create_api
from serving.cache import LRUCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from serving.shadow import ShadowMirror
from tests.conftest import BundleFactory, fair_row
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, ShadowLog, agreement

REQUESTS = [
    [fair_row()],
    [fair_row(age=50.0), fair_row(educ=9.0), fair_row(children=None)],
    [fair_row()],  # a cache hit: mirrored too
    [fair_row(age=21.0), fair_row(age=22.0)],
]
ROWS = sum(len(rows) for rows in REQUESTS)


def fragile_onnx(path: Path, weights: np.ndarray, bias: float) -> None:
    """A logistic model that reshapes its input to exactly 2 rows: it passes the 2-row load
    probe, then fails at run time on any other batch size."""
    n = weights.shape[0]
    w = np.stack([np.zeros(n), weights], axis=1).astype(np.float32)
    nodes = [
        helper.make_node("Reshape", ["input", "two_rows"], ["fixed"]),
        helper.make_node("MatMul", ["fixed", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "fragile",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.flatten().tolist()),
            helper.make_tensor("two_rows", TensorProto.INT64, [2], [2, n]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def answers(client: TestClient) -> list[dict[str, Any]]:
    """The responses to REQUESTS, without their request ids (new on every call)."""
    bodies = []
    for rows in REQUESTS:
        response = client.post("/predict", json={"instances": rows})
        assert response.status_code == 200, response.text
        bodies.append({k: v for k, v in response.json().items() if k != "request_id"})
    return bodies


def shadow_rows(metrics: CollectorRegistry, version: str, result: str) -> float | None:
    labels = {"model": "fair", "version": version, "result": result}
    return metrics.get_sample_value("trainsmart_shadow_predictions_total", labels)


def candidate_with_shadow(
    make_bundle: BundleFactory, registry: Registry, holder: ModelHolder, **bundle: Any
) -> tuple[str, str]:
    v1 = make_bundle(bias=-1.0)
    v2 = make_bundle(promote=False, **bundle)
    registry.set_candidate("fair", v2, shadow=False, reason="test")
    holder.refresh()
    return v1, v2


def test_responses_are_identical_and_every_row_is_shadowed(
    make_bundle: BundleFactory,
    registry: Registry,
    holder: ModelHolder,
    client: TestClient,
    mirror: ShadowMirror,
    shadow_log: ShadowLog,
    metrics_registry: CollectorRegistry,
) -> None:
    _, v2 = candidate_with_shadow(make_bundle, registry, holder, bias=1.0)
    off = answers(client)
    assert mirror.drain(5) and shadow_log.count() == 0
    registry.set_shadow("fair", True, reason="test")
    holder.refresh()
    on = answers(client)
    for body in off:  # the second pass is answered from the cache
        for prediction in body["predictions"]:
            prediction["cached"] = True
    assert on == off

    assert mirror.drain(5)
    assert shadow_log.count("fair", v2) == ROWS
    assert shadow_rows(metrics_registry, v2, "ok") == ROWS
    pinned = client.post("/predict", json={"instances": REQUESTS[1], "version": v2}).json()
    assert mirror.drain(5) and shadow_log.count() == ROWS  # pinned requests are not mirrored
    pairs = shadow_log.compare("fair")
    assert len(pairs) == ROWS
    by_row = [p for p in pairs if p.champion["probabilities"] != p.candidate["probabilities"]]
    assert len(by_row) == ROWS  # the candidate's own outputs, not the champion's
    expected = [p["probabilities"]["1"] for p in pinned["predictions"]]
    shadowed = [p.candidate["probabilities"]["1"] for p in pairs[1:4]]
    np.testing.assert_allclose(shadowed, expected, rtol=1e-6)
    assert agreement(pairs) is not None


def test_a_candidate_that_fails_never_changes_a_response(
    make_bundle: BundleFactory,
    registry: Registry,
    holder: ModelHolder,
    client: TestClient,
    mirror: ShadowMirror,
    shadow_log: ShadowLog,
    metrics_registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, v2 = candidate_with_shadow(make_bundle, registry, holder, write_model=fragile_onnx)
    assert holder.candidate() is not None  # it loaded: the failure comes at run time
    off = answers(client)
    registry.set_shadow("fair", True, reason="test")
    holder.refresh()
    with caplog.at_level(logging.WARNING, logger="serving.shadow"):
        on = answers(client)
        assert mirror.drain(5)
    for body in off:
        for prediction in body["predictions"]:
            prediction["cached"] = True
    assert on == off
    failing = ROWS - len(REQUESTS[3])  # the 2-row request runs
    assert shadow_rows(metrics_registry, v2, "error") == failing
    assert shadow_rows(metrics_registry, v2, "ok") == len(REQUESTS[3])
    assert shadow_log.count() == len(REQUESTS[3])
    failures = [r for r in caplog.records if "shadow candidate failed" in r.getMessage()]
    # three failing requests, then a success: one line for the burst, one for the recovery
    assert len(failures) == 2, [r.getMessage() for r in failures]
    assert "recovered after 3 failures" in failures[1].getMessage()


def test_a_broken_shadow_table_is_counted_not_answered(
    make_bundle: BundleFactory,
    registry: Registry,
    holder: ModelHolder,
    client: TestClient,
    mirror: ShadowMirror,
    db: Database,
    metrics_registry: CollectorRegistry,
) -> None:
    _, v2 = candidate_with_shadow(make_bundle, registry, holder)
    registry.set_shadow("fair", True, reason="test")
    holder.refresh()
    db.connection().execute("DROP TABLE shadow")
    assert len(answers(client)) == len(REQUESTS)
    assert mirror.drain(5)
    assert shadow_rows(metrics_registry, v2, "error") == ROWS


def test_a_full_queue_drops_mirrors_and_counts_them(
    make_bundle: BundleFactory,
    registry: Registry,
    holder: ModelHolder,
    input_log: InputLog,
    settings: Settings,
    shadow_log: ShadowLog,
) -> None:
    v1, v2 = candidate_with_shadow(make_bundle, registry, holder)
    registry.set_shadow("fair", True, reason="test")
    holder.refresh()
    metrics_registry = CollectorRegistry()
    metrics = ServingMetrics(metrics_registry)
    stalled = ShadowMirror(shadow_log, metrics, capacity=1)  # its worker is not started yet
    predictor = Predictor(
        holder, LRUCache(10), input_log, metrics, settings.serving, registry, shadow=stalled
    )
    client = TestClient(create_api(lambda: predictor))
    assert [b["version"] for b in answers(client)] == [v1] * len(REQUESTS)
    assert stalled.depth == 1
    dropped = ROWS - len(REQUESTS[0])
    assert shadow_rows(metrics_registry, v2, "dropped") == dropped
    assert stalled.counts == {"ok": 0, "error": 0, "dropped": dropped}
    stalled.start()
    try:
        assert stalled.drain(5) and stalled.depth == 0
    finally:
        stalled.stop()
    assert shadow_log.count("fair", v2) == len(REQUESTS[0])
    assert shadow_rows(metrics_registry, v2, "ok") == len(REQUESTS[0])
