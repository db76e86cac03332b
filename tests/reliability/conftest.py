"""Fixtures of the reliability tests.

Per test: the in-process service of ``tests/serving`` (its fixture chain is imported, not
copied: metrics -> holder -> shadow mirror -> predictor) serving model 'fair', with
``versions`` for a production version and a loaded candidate. Per module: ``build_service``
wires the same objects (without the shadow mirror) over a state directory of its own, for
a table of requests that must all be refused: a fresh state database per request costs
more than the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.api import create_api
from serving.cache import LRUCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from tests.conftest import BundleFactory, fair_contract, fair_row, logistic_onnx
from tests.serving.conftest import (
    holder,
    metrics_registry,
    mirror,
    predictor,
    serving_metrics,
    shadow_log,
)
from tests.training.conftest import champion, champion_dir, env_factory, fair
from trainsmart.registry import Lineage, Registry
from trainsmart.state import InputLog, open_database

__all__ = [
    "Service",
    "Versions",
    "build_service",
    "champion",
    "champion_dir",
    "document",
    "env_factory",
    "fair",
    "holder",
    "metrics_registry",
    "mirror",
    "no_predictor",
    "predictor",
    "serving_metrics",
    "shadow_log",
    "versions",
]


def no_predictor() -> Predictor:
    """The getter of an app that only publishes its document."""
    raise AssertionError("the OpenAPI document needs no predictor")


@pytest.fixture(scope="session")
def document() -> dict[str, Any]:
    """/openapi.json: the same for every service (no predictor or setting changes it)."""
    return create_api(no_predictor).openapi()


@dataclass(frozen=True)
class Versions:
    production: str
    candidate: str


@pytest.fixture
def versions(make_bundle: BundleFactory, registry: Registry, holder: ModelHolder) -> Versions:
    """Production and a candidate (shadow off) of 'fair', both loaded in ``holder``."""
    production = make_bundle(bias=-1.0)
    candidate = make_bundle(bias=1.0, promote=False)
    registry.set_candidate("fair", candidate, shadow=False, reason="test")
    assert holder.refresh()
    assert holder.candidate() is not None
    return Versions(production, candidate)


@dataclass(frozen=True)
class Service:
    """A service built by ``build_service``; a 500 comes back as a response."""

    client: TestClient
    input_log: InputLog
    production: str


def build_service(root: Path, settings: Settings) -> Service:
    """The service of ``settings`` serving a 'fair' bundle registered as ``make_bundle``
    registers its first one (a tiny logistic ONNX model), its state under ``root``."""
    registry = Registry(settings.paths.model_store, open_database(settings))
    staging = root / "staging"
    staging.mkdir()
    contract = fair_contract()
    logistic_onnx(staging / "model.onnx", np.linspace(-1, 1, len(contract.features)) * 0.1, 0.0)
    (staging / "contract.json").write_text(contract.model_dump_json())
    (staging / "metrics.json").write_text('{"serving": {"accuracy": 0.5}}')
    pd.DataFrame([fair_row() for _ in range(5)]).to_parquet(staging / "reference.parquet")
    version = registry.register("fair", staging, Lineage(dataset_fingerprint="test")).version
    registry.promote("fair", version, reason="test")
    model_holder = ModelHolder(registry, "fair", settings.serving)
    assert model_holder.refresh()
    input_log = InputLog(registry.db)
    metrics = ServingMetrics(CollectorRegistry())
    served = Predictor(model_holder, LRUCache(100), input_log, metrics, settings.serving, registry)
    client = TestClient(create_api(lambda: served), raise_server_exceptions=False)
    return Service(client, input_log, version)
