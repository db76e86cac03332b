"""Fixtures of the in-process serving tests: holder -> predictor -> app client."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from serving.api import create_api
from serving.cache import LRUCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from trainsmart.registry import Registry
from trainsmart.settings import Settings
from trainsmart.state import InputLog


@pytest.fixture
def metrics_registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def holder(registry: Registry, settings: Settings) -> ModelHolder:
    return ModelHolder(registry, "fair", settings.serving)


@pytest.fixture
def predictor(
    holder: ModelHolder,
    input_log: InputLog,
    settings: Settings,
    registry: Registry,
    metrics_registry: CollectorRegistry,
) -> Predictor:
    return Predictor(
        holder,
        LRUCache(100),
        input_log,
        ServingMetrics(metrics_registry),
        settings.serving,
        registry,
    )


@pytest.fixture
def client(predictor: Predictor) -> TestClient:
    return TestClient(create_api(lambda: predictor))
