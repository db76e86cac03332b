"""Fixtures of the in-process serving tests, wired as ``serving/service.py`` wires them:
metrics -> holder -> shadow mirror -> predictor -> app client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from serving.api import create_api
from serving.cache import LRUCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from serving.shadow import ShadowMirror
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, ShadowLog


@pytest.fixture
def metrics_registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def serving_metrics(metrics_registry: CollectorRegistry) -> ServingMetrics:
    return ServingMetrics(metrics_registry)


@pytest.fixture
def holder(registry: Registry, settings: Settings, serving_metrics: ServingMetrics) -> ModelHolder:
    return ModelHolder(
        registry,
        "fair",
        settings.serving,
        on_swap=lambda model: serving_metrics.serving(model.name, model.version),
        on_candidate=lambda c: serving_metrics.candidate(
            "fair", c.model.version if c else None, bool(c and c.shadow)
        ),
    )


@pytest.fixture
def shadow_log(db: Database) -> ShadowLog:
    return ShadowLog(db)


@pytest.fixture
def mirror(
    shadow_log: ShadowLog, serving_metrics: ServingMetrics, settings: Settings
) -> Iterator[ShadowMirror]:
    mirror = ShadowMirror(shadow_log, serving_metrics, settings.serving.shadow_queue_size)
    mirror.start()
    yield mirror
    mirror.stop()


@pytest.fixture
def predictor(
    holder: ModelHolder,
    input_log: InputLog,
    settings: Settings,
    registry: Registry,
    serving_metrics: ServingMetrics,
    mirror: ShadowMirror,
) -> Predictor:
    return Predictor(
        holder,
        LRUCache(100),
        input_log,
        serving_metrics,
        settings.serving,
        registry,
        shadow=mirror,
    )


@pytest.fixture
def client(predictor: Predictor) -> TestClient:
    return TestClient(create_api(lambda: predictor))
