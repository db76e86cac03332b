"""The BentoML service that ``bentofile.yaml`` names: ``serving.service:Trainsmart``.

Run it with ``trainsmart serve`` (or ``bentoml serve serving.service:Trainsmart``).
Settings come from ``$TRAINSMART_CONFIG`` and ``TRAINSMART_*`` variables, as everywhere.
Routes: ``POST /predict``, ``POST /feedback`` (``serving.api``), the Open Inference
Protocol v2 under ``/v2`` (``serving.v2``), plus BentoML's
``/metrics``, ``/livez`` and ``/readyz`` (ready once a model is loaded).
"""

from __future__ import annotations

import logging

import bentoml
from prometheus_client import REGISTRY

from serving.api import create_api
from serving.cache import make_cache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder, Reloader
from trainsmart.bento import for_bento, seed_from_bento
from trainsmart.registry import Registry
from trainsmart.settings import load_settings
from trainsmart.state import Database, InputLog

logger = logging.getLogger("trainsmart.serving")


def _workers() -> int:
    """BentoML needs the worker count when this module is imported, before ``__init__``."""
    return load_settings().serving.workers


def _predictor() -> Predictor:
    service: Trainsmart = bentoml.get_current_service()
    return service.predictor


api = create_api(_predictor)


@bentoml.service(
    name="trainsmart",
    traffic={"timeout": 30},
    workers=_workers(),
)
@bentoml.asgi_app(api, path="/")
class Trainsmart:
    """Serves the production version of ``settings.model_name`` and follows promotions."""

    def __init__(self) -> None:
        settings = for_bento(load_settings())  # a Bento serves the model it carries
        self.settings = settings
        db = Database(settings.paths.state_db)
        self.registry = Registry(settings.paths.model_store, db)
        metrics = ServingMetrics(REGISTRY)
        self.holder = ModelHolder(
            self.registry,
            settings.model_name,
            settings.serving,
            on_swap=lambda model: metrics.serving(model.name, model.version),
        )
        seed_from_bento(self.registry, settings.model_name)  # no-op outside a Bento
        self.holder.refresh()
        cache = make_cache(settings.serving, metrics)
        logger.info(
            "prediction cache: %s",
            cache.describe() if cache is not None else "none (serving.cache_backend: none)",
        )
        self.predictor = Predictor(
            self.holder,
            cache,
            InputLog(db),
            metrics,
            settings.serving,
            self.registry,
        )
        self.reloader = Reloader(self.holder, settings.serving.reload_interval_s)
        self.reloader.start()

    def __is_ready__(self) -> bool:
        return self.holder.ready
