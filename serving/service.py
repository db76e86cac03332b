"""The BentoML service that ``bentofile.yaml`` names: ``serving.service:Trainsmart``.

Run it with ``trainsmart serve`` (or ``bentoml serve serving.service:Trainsmart``).
Settings come from ``$TRAINSMART_CONFIG`` and ``TRAINSMART_*`` variables, as everywhere.
Routes: ``POST /predict``, ``POST /feedback`` (``serving.api``), plus BentoML's
``/metrics``, ``/livez`` and ``/readyz`` (ready once a model is loaded).
"""

from __future__ import annotations

import logging
import os

import bentoml
from prometheus_client import REGISTRY

from serving.api import create_api
from serving.cache import LRUCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder, Reloader
from trainsmart.registry import Registry
from trainsmart.settings import load_settings
from trainsmart.state import Database, InputLog

logger = logging.getLogger("trainsmart.serving")

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


def _predictor() -> Predictor:
    service: Trainsmart = bentoml.get_current_service()
    return service.predictor


api = create_api(_predictor)


@bentoml.service(
    name="trainsmart",
    traffic={"timeout": 30},
    workers=int(os.environ.get("TRAINSMART_SERVING__WORKERS", "1")),
)
@bentoml.asgi_app(api, path="/")
class Trainsmart:
    """Serves the production version of ``settings.model_name`` and follows promotions."""

    def __init__(self) -> None:
        settings = load_settings()
        self.settings = settings
        db = Database(settings.paths.state_db)
        self.registry = Registry(settings.paths.model_store, db)
        self.holder = ModelHolder(self.registry, settings.model_name, settings.serving)
        self.holder.refresh()
        cache = (
            LRUCache(settings.serving.cache_size, settings.serving.cache_ttl_s)
            if settings.serving.cache_enabled
            else None
        )
        self.predictor = Predictor(
            self.holder,
            cache,
            InputLog(db),
            ServingMetrics(REGISTRY),
            settings.serving,
            self.registry,
        )
        if self.holder.ready:
            model = self.holder.current()
            self.predictor.metrics.serving(model.name, model.version)
        self.reloader = Reloader(self.holder, settings.serving.reload_interval_s)
        self.reloader.start()

    def __is_ready__(self) -> bool:
        return self.holder.ready
