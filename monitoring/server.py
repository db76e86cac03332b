"""The monitor's HTTP endpoint on its own port: metrics, reports, and hooks.

Routes:

* ``GET /metrics``: the monitor's Prometheus metrics;
* ``GET /report``: the newest Evidently HTML report (404 until a window drifted or
  ``monitoring.report_every_window`` is on); ``GET /reports``: the kept reports as JSON;
* ``POST`` routes added by callers (the Alertmanager webhook) as
  ``handler(headers, body) -> (status, json_body)``.

A ``POST`` body is read exactly as its ``Content-Length`` says, and a request that does not
say it properly is answered before any handler runs, never with a 500: a length that is
not a whole number of bytes (``abc``, ``-5``) or a body that ends (or stalls for
``read_timeout_s``) before it is 400; a chunked body without a length is 411; a length
over 1 MiB is 413.

A plain WSGI app on a threading server in a daemon thread: the monitor stays free
of any web framework, and a slow client never blocks the checks.

Example::

    server, thread = start_metrics_server(scope.monitoring, registry, reports=store)
    ...
    server.shutdown(); server.server_close()
"""

from __future__ import annotations

import json
import re
import sys
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
READ_TIMEOUT_S = 10.0
STATUS_TEXT = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
               403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
               409: "Conflict", 411: "Length Required", 413: "Payload Too Large",
               500: "Internal Server Error"}  # fmt: skip
_DIGITS = re.compile(r"[0-9]+")


class _QuietHandler(WSGIRequestHandler):
    timeout = READ_TIMEOUT_S  # socket timeout per connection: a stalled client frees its thread

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request lines on stderr (headers, and so tokens, are never logged)."""


class _QuietServer(ThreadingWSGIServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that stalls or hangs up is its own problem: no traceback on stderr."""
        if not isinstance(sys.exc_info()[1], (TimeoutError, ConnectionError)):
            super().handle_error(request, client_address)


class BodyError(Exception):
    """A ``POST`` whose body cannot be read as its headers describe; ``status`` is the answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_body(environ: Mapping[str, Any]) -> bytes:
    """The request body, exactly ``Content-Length`` bytes (none without the header).

    Raises :class:`BodyError` (400, 411 or 413) for a length that is not a whole number, a
    chunked body, a length over ``MAX_BODY``, or a body shorter than its length.
    """
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw:
        if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
            raise BodyError(411, "chunked bodies are not read here; send a Content-Length")
        return b""
    if not _DIGITS.fullmatch(raw):
        raise BodyError(
            400, f"Content-Length {raw[:40]!r} is not a whole number of bytes (0 or more)"
        )
    length = int(raw)
    if length > MAX_BODY:
        raise BodyError(413, f"body of {length} bytes is over the limit of {MAX_BODY}")
    try:
        body = environ["wsgi.input"].read(length) if length else b""
    except (TimeoutError, ConnectionError) as exc:
        raise BodyError(
            400, f"body shorter than its Content-Length of {length} bytes ({exc or 'timed out'})"
        ) from exc
    if len(body) < length:
        raise BodyError(
            400, f"body of {len(body)} bytes is shorter than its Content-Length of {length}"
        )
    return bytes(body)


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
            try:
                body = read_body(environ)
            except BodyError as exc:
                return _json(start, exc.status, {"error": str(exc)})
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
    read_timeout_s: float = READ_TIMEOUT_S,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve :func:`monitor_app` on ``monitoring.host:monitoring.port`` in a daemon thread.

    ``read_timeout_s`` bounds each wait on a client's socket (a request line, headers or a
    body that stalls). Stop it with ``server.shutdown(); server.server_close()``.
    """
    host, port = config.host, config.port
    handler = type("_Handler", (_QuietHandler,), {"timeout": read_timeout_s})
    try:
        server = make_server(
            host,
            port,
            monitor_app(registry, reports, posts),
            server_class=_QuietServer,
            handler_class=handler,
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot serve monitor metrics on {host}:{port} ({exc}); free the port or set "
            "monitoring.port (TRAINSMART_MONITORING__PORT) to another one"
        ) from exc
    thread = threading.Thread(target=server.serve_forever, name="monitor-http", daemon=True)
    thread.start()
    return server, thread
