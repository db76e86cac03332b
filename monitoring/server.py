"""The monitor's Prometheus endpoint (/metrics) on its own port."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from trainsmart.errors import ConfigError
from trainsmart.settings import Settings


def start_metrics_server(
    settings: Settings, registry: CollectorRegistry
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` on ``monitoring.host:monitoring.port`` in a daemon thread.

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    host, port = settings.monitoring.host, settings.monitoring.port
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve monitor metrics on {host}:{port} ({exc}); free the port or set "
            "monitoring.port (TRAINSMART_MONITORING__PORT) to another one"
        ) from exc
    return server, thread
