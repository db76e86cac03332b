"""The prediction routes straight to our app, past BentoML's per-request middleware.

BentoML 1.4 wraps every request in its own Starlette app: OpenTelemetry's ASGI middleware
(a span per request, also with ``tracing.sample_rate: 0``), its access log, its request
metrics, a timeout and a concurrency limit, a context middleware, then the router that
reaches our mounted FastAPI app. On a one-row prediction that costs about four times the
prediction itself (docs/benchmarks.md). :func:`install` makes the service's ASGI app a
:class:`FastPath`: the routes that :func:`hot_route` names (``POST /predict``,
``/feedback`` and the v2 ``infer`` routes) go to our app directly; everything else, and
the lifespan that builds the service, goes through BentoML's app as before.

What the prediction routes do without BentoML's stack, and where it is instead:

- request counts and latency by endpoint and status:
  ``trainsmart_request_duration_seconds`` (``serving/metrics.py``), not BentoML's
  ``bentoml_service_request_*`` (the board uses ours);
- traces and BentoML's access log: none on these routes; ``serving.fast_path: false``
  brings BentoML's full stack back (for tracing, say);
- the request timeout (``traffic.timeout``): a prediction is bounded by
  ``serving.max_rows_per_request`` and ``max_body_bytes`` instead.

This is the one place trainsmart reaches into BentoML: the worker serves whatever
``Service.to_asgi()`` returns, and :func:`install` gives the service a subclass whose
``to_asgi`` wraps BentoML's app. It is checked against :data:`SUPPORTED` (the range
pyproject.toml pins) and does nothing, with a warning, on another BentoML.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import bentoml
from packaging.version import Version

logger = logging.getLogger("trainsmart.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SUPPORTED = (Version("1.4.39"), Version("1.5"))
"""BentoML versions whose worker serves ``Service.to_asgi()`` as we rely on: [low, high)."""
DIRECT_PATHS = frozenset({"/predict", "/feedback"})


def hot_route(method: str, path: str) -> bool:
    """A prediction or feedback request: ``POST /predict``, ``POST /feedback``,
    ``POST /v2/models/{name}[/versions/{v}]/infer``."""
    if method != "POST":
        return False
    return path in DIRECT_PATHS or (path.startswith("/v2/models/") and path.endswith("/infer"))


class FastPath:
    """An ASGI app: hot routes to ``direct``, everything else to ``full``."""

    def __init__(
        self, full: ASGIApp, direct: ASGIApp, is_hot: Callable[[str, str], bool] = hot_route
    ) -> None:
        self.full = full
        self.direct = direct
        self.is_hot = is_hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.is_hot(scope["method"], scope["path"]):
            await self.direct(scope, receive, send)
        else:
            await self.full(scope, receive, send)


def supported(version: str) -> bool:
    """Whether :func:`install` knows this BentoML version."""
    low, high = SUPPORTED
    return low <= Version(version) < high


def install(service: Any, direct: ASGIApp, *, version: str = bentoml.__version__) -> bool:
    """Serve ``service`` (a ``@bentoml.service`` object) through a :class:`FastPath` to
    ``direct``; False (and a warning) when this BentoML is outside :data:`SUPPORTED`."""
    if not supported(version):
        logger.warning(
            "serving.fast_path: BentoML %s is outside the supported range [%s, %s); the "
            "prediction routes go through BentoML's full middleware stack",
            version,
            *SUPPORTED,
        )
        return False
    base = type(service)

    def to_asgi(self: Any, is_main: bool = True) -> Any:
        return FastPath(base.to_asgi(self, is_main=is_main), direct)

    # the same slots as BentoML's attrs class, so the object's class can be swapped
    service.__class__ = type(base.__name__, (base,), {"__slots__": (), "to_asgi": to_asgi})
    return True
