"""The monitor's HTTP endpoint on its own port: metrics, reports, and hooks.

Routes:

* ``GET /metrics``: the monitor's Prometheus metrics;
* ``GET /report``: the newest Evidently HTML report (404 until a window drifted or
  ``monitoring.report_every_window`` is on); ``GET /reports``: the kept reports as JSON;
* ``POST`` routes added by callers (the Alertmanager webhook) as
  ``handler(headers, body) -> (status, json_body)``.

A plain WSGI app on a threading server in a daemon thread: the monitor stays free
of any web framework, and a slow client never blocks the checks.

Example::

    server, thread = start_metrics_server(scope.monitoring, registry, reports=store)
    ...
    server.shutdown(); server.server_close()
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from monitoring.records.reports import ReportStore
from monitoring.settings import MonitoringSettings
from trainsmart.errors import ConfigError

Handler = Callable[[Mapping[str, str], bytes], tuple[int, dict[str, Any]]]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
MAX_BODY = 1024 * 1024
STATUS_TEXT = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
               403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
               409: "Conflict", 413: "Payload Too Large", 500: "Internal Server Error"}  # fmt: skip


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No per-request lines on stderr (headers, and so tokens, are never logged)."""


def _json(start: StartResponse, status: int, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start(
        f"{status} {STATUS_TEXT.get(status, 'Status')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def monitor_app(
    registry: CollectorRegistry,
    reports: ReportStore | None = None,
    posts: Mapping[str, Handler] | None = None,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app of the routes above."""
    metrics = make_wsgi_app(registry)
    posts = dict(posts or {})

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
        if path == "/metrics":
            return metrics(environ, start)  # type: ignore[no-any-return]
        if path in posts:
            if method != "POST":
                return _json(start, 405, {"error": f"{path} takes POST"})
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BODY:
                return _json(start, 413, {"error": f"body over {MAX_BODY} bytes"})
            body = environ["wsgi.input"].read(length) if length else b""
            headers = {
                key[5:].replace("_", "-").lower(): str(value)
                for key, value in environ.items()
                if key.startswith("HTTP_")
            }
            if "CONTENT_TYPE" in environ:
                headers["content-type"] = str(environ["CONTENT_TYPE"])
            status, answer = posts[path](headers, body)
            return _json(start, status, answer)
        if path == "/report" and reports is not None:
            latest = reports.latest()
            if latest is None:
                return _json(
                    start,
                    404,
                    {"error": "no drift report yet: one is written when a window drifts "
                     "(or for every window with monitoring.report_every_window)"},
                )  # fmt: skip
            page = latest.read_bytes()
            start(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))],
            )
            return [page]
        if path == "/reports" and reports is not None:
            return _json(start, 200, {"reports": [str(p) for p in reports.all()]})
        return _json(start, 404, {"error": f"no route {path}; try /metrics or /report"})

    return app


def start_metrics_server(
    config: MonitoringSettings,
    registry: CollectorRegistry,
    *,
    reports: ReportStore | None = None,
    posts: Mapping[str, Handler] | None = None,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve :func:`monitor_app` on ``monitoring.host:monitoring.port`` in a daemon thread.

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    host, port = config.host, config.port
    try:
        server = make_server(
            host,
            port,
            monitor_app(registry, reports, posts),
            server_class=ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot serve monitor metrics on {host}:{port} ({exc}); free the port or set "
            "monitoring.port (TRAINSMART_MONITORING__PORT) to another one"
        ) from exc
    thread = threading.Thread(target=server.serve_forever, name="monitor-http", daemon=True)
    thread.start()
    return server, thread
