"""Adaptive batching: concurrent requests share model calls, each gets its own rows back,
versions never mix, errors reach every request of the failed batch."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.api import create_api
from serving.batching import Batcher
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import LoadedModel, ModelHolder, load_model
from tests.conftest import BundleFactory, fair_row
from trainsmart.registry import Registry
from trainsmart.state import InputLog


class Counting:
    """A real loaded model that also records the size of each call it gets."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        with self.lock:
            self.calls.append(len(matrix))
        return self.model.predict_proba(matrix)


@pytest.fixture
def two_models(
    make_bundle: BundleFactory, registry: Registry, settings: Settings
) -> tuple[Counting, Counting]:
    first, second = make_bundle(bias=-2.0), make_bundle(bias=2.0)
    return (
        Counting(load_model(registry, "fair", first, settings.serving)),
        Counting(load_model(registry, "fair", second, settings.serving)),
    )


def _rows(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 10, size=(n, 8)).astype(np.float32)


def test_concurrent_requests_share_calls_and_get_their_own_rows(
    two_models: tuple[Counting, Counting],
) -> None:
    model, _ = two_models
    batcher = Batcher(max_batch_rows=64, max_wait_s=0.02)
    requests = [_rows(seed, 1 + seed % 3) for seed in range(48)]
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda m: batcher.run(model, m), requests))
    finally:
        batcher.stop()
    for matrix, result in zip(requests, results, strict=True):
        np.testing.assert_allclose(result, model.model.predict_proba(matrix), rtol=1e-6)
    batched_calls = model.calls
    assert sum(batched_calls) == sum(len(m) for m in requests)
    assert len(batched_calls) < len(requests), "no two requests shared a model call"
    assert max(batched_calls) <= 64


def test_rows_of_two_versions_are_never_batched_together(
    two_models: tuple[Counting, Counting],
) -> None:
    old, new = two_models
    batcher = Batcher(max_batch_rows=256, max_wait_s=0.02)
    jobs = [(old if i % 2 else new, _rows(i, 2)) for i in range(40)]
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda job: batcher.run(*job), jobs))
    finally:
        batcher.stop()
    for (model, matrix), result in zip(jobs, results, strict=True):
        np.testing.assert_allclose(result, model.model.predict_proba(matrix), rtol=1e-6)
    assert sum(old.calls) == sum(new.calls) == 40  # 20 requests of 2 rows each


def test_a_failed_call_reaches_every_request_in_its_batch(
    two_models: tuple[Counting, Counting],
) -> None:
    model, _ = two_models
    batcher = Batcher(max_batch_rows=64, max_wait_s=0.05)
    bad = np.zeros((2, 3), dtype=np.float32)  # the model takes 8 features
    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(batcher.run, model, bad) for _ in range(4)]
            for future in futures:
                with pytest.raises(Exception, match=r"(?i)dimension|shape|invalid"):
                    future.result(timeout=10)
        # the batcher thread survives and serves the next request
        good = _rows(1, 3)
        np.testing.assert_allclose(
            batcher.run(model, good), model.model.predict_proba(good), rtol=1e-6
        )
    finally:
        batcher.stop()


def test_a_stopped_batcher_refuses_new_work(two_models: tuple[Counting, Counting]) -> None:
    batcher = Batcher(max_batch_rows=8)
    batcher.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        batcher.run(two_models[0], _rows(0, 1))


def test_the_service_batches_concurrent_requests_and_answers_each_its_own(
    make_bundle: BundleFactory,
    registry: Registry,
    settings: Settings,
    input_log: InputLog,
) -> None:
    make_bundle(bias=0.5)
    serving = settings.serving.model_copy(update={"batching": True, "max_batch_wait_ms": 5.0})
    holder = ModelHolder(registry, "fair", serving)
    holder.refresh()
    scrape = CollectorRegistry()
    predictor = Predictor(holder, None, input_log, ServingMetrics(scrape), serving, registry)
    client = TestClient(create_api(lambda: predictor))
    rows = [
        [fair_row(age=float(20 + i), educ=float(k)) for k in range(1 + i % 3)] for i in range(40)
    ]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda r: client.post("/predict", json={"instances": r}), rows))
    direct = holder.current()
    for sent, answer in zip(rows, answers, strict=True):
        assert answer.status_code == 200, answer.text
        expected = direct.predict_proba(direct.contract.to_matrix(sent))
        got = [[p["probabilities"][c] for c in ("0", "1")] for p in answer.json()["predictions"]]
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    calls = scrape.get_sample_value("trainsmart_batch_rows_count")
    total = scrape.get_sample_value("trainsmart_batch_rows_sum")
    assert total == sum(len(r) for r in rows) and calls is not None and calls <= len(rows)
    assert input_log.count("fair") == total
