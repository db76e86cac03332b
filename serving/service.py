"""The BentoML service that ``bentofile.yaml`` names: ``serving.service:Trainsmart``.

Run it with ``trainsmart serve`` (or ``bentoml serve serving.service:Trainsmart``).
Settings come from ``$TRAINSMART_CONFIG`` and ``TRAINSMART_*`` variables, as everywhere.
Routes: ``POST /predict``, ``POST /feedback`` (``serving.api``), the Open Inference
Protocol v2 under ``/v2`` (``serving.v2``), the admin routes under ``/admin``
(``serving.admin``), plus BentoML's ``/metrics``, ``/livez`` and ``/readyz`` (ready
once a model is loaded). Each worker loads the production version and the
candidate, and runs one shadow mirror thread (``serving.shadow``).
"""

from __future__ import annotations

import logging

import bentoml
from prometheus_client import REGISTRY

from serving.api import create_api, create_direct
from serving.cache import make_cache
from serving.fastpath import install as install_fast_path
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.providers import GpuSetup
from serving.runtime import ModelHolder, Reloader
from serving.settings import ServingScope
from serving.shadow import ShadowMirror
from trainsmart.registry import Registry
from trainsmart.registry.bento import for_bento, seed_from_bento
from trainsmart.settings import load
from trainsmart.state import InputLog, ShadowLog, open_database

logger = logging.getLogger("trainsmart.serving")


def _settings() -> ServingScope:
    """The shared keys and the ``serving`` section (other sections belong to the processes
    that read them; ``trainsmart serve`` checks the whole file before starting this)."""
    return load(ServingScope)


# BentoML needs the worker count, and the fast path its app, when this module is imported
_startup = _settings().serving


def _predictor() -> Predictor:
    service: Trainsmart = bentoml.get_current_service()
    return service.predictor


api = create_api(_predictor)


@bentoml.service(
    name="trainsmart",
    traffic={"timeout": 30},
    workers=_startup.workers,
)
@bentoml.asgi_app(api, path="/")
class Trainsmart:
    """Serves the production version of ``settings.model_name`` (and its candidate) and
    follows the registry's pointers."""

    def __init__(self) -> None:
        settings = for_bento(_settings())  # a Bento serves the model it carries
        self.settings = settings
        db = open_database(settings)
        self.registry = Registry(settings.paths.model_store, db)
        metrics = ServingMetrics(REGISTRY)
        self.holder = ModelHolder(
            self.registry,
            settings.model_name,
            settings.serving,
            on_swap=lambda model: metrics.serving(model.name, model.version),
            on_candidate=lambda c: metrics.candidate(
                settings.model_name, c.model.version if c else None, bool(c and c.shadow)
            ),
            gpu=GpuSetup(settings.paths.gpu, metrics),  # large calls on CUDA, if there
        )
        seed_from_bento(self.registry, settings.model_name)  # no-op outside a Bento
        self.holder.refresh()
        cache = make_cache(settings.serving, metrics)
        logger.info(
            "prediction cache: %s",
            cache.describe() if cache is not None else "none (serving.cache_backend: none)",
        )
        self.shadow = ShadowMirror(ShadowLog(db), metrics, settings.serving.shadow_queue_size)
        self.shadow.start()  # idle until a candidate is in shadow mode
        self.predictor = Predictor(
            self.holder,
            cache,
            InputLog(db),
            metrics,
            settings.serving,
            self.registry,
            shadow=self.shadow,
        )
        self.reloader = Reloader(self.holder, settings.serving.reload_interval_s)
        self.reloader.start()

    def __is_ready__(self) -> bool:
        return self.holder.ready


if _startup.fast_path:
    install_fast_path(Trainsmart, create_direct(_predictor, api))
