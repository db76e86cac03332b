from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.metrics import MonitorMetrics
from monitoring.server import MAX_BODY, start_metrics_server
from monitoring.settings import MonitoringSettings


def test_metrics_endpoint_serves_the_registry_passed_in(settings: Settings) -> None:
    on_free_port = settings.model_copy(update={"monitoring": MonitoringSettings(port=0)})
    registry = CollectorRegistry()
    MonitorMetrics(registry).job_transition("queued")
    server, thread = start_metrics_server(on_free_port.monitoring, registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
        assert 'trainsmart_retrain_jobs_total{status="queued"} 1.0' in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _echo(headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    return 200, {"received": len(body)}


@pytest.fixture
def echo_server() -> Iterator[int]:
    """The real monitor server on a free port, one POST route echoing its body's length;
    a 0.5 s read timeout so a stalled body is answered quickly."""
    server, thread = start_metrics_server(
        MonitoringSettings(port=0), CollectorRegistry(), posts={"/echo": _echo}, read_timeout_s=0.5
    )
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _raw(port: int, head: str, body: bytes = b"", *, half_close: bool = True) -> tuple[int, str]:
    """Send ``head`` (request line and headers) and ``body`` as bytes on a raw socket; the
    status code and body of the answer. ``half_close`` ends the client's side after sending."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode()


def _post(length: str | None, extra: str = "") -> str:
    header = "" if length is None else f"Content-Length: {length}\n"
    return f"POST /echo HTTP/1.1\nHost: x\n{header}{extra}"


def test_a_well_formed_post_reaches_the_handler(echo_server: int) -> None:
    assert _raw(echo_server, _post("5"), b"hello") == (200, '{"received": 5}')
    assert _raw(echo_server, _post(None)) == (200, '{"received": 0}')


@pytest.mark.parametrize(
    ("length", "quoted"),
    [("abc", "'abc'"), ("-5", "'-5'"), ("1.5", "'1.5'"), ("+5", "'+5'"), ("0x10", "'0x10'")],
)
def test_a_content_length_that_is_not_a_whole_number_is_400(
    echo_server: int, length: str, quoted: str
) -> None:
    status, body = _raw(echo_server, _post(length), b"hello")
    assert status == 400
    assert json.loads(body) == {
        "error": f"Content-Length {quoted} is not a whole number of bytes (0 or more)"
    }


def test_a_body_shorter_than_its_content_length_is_400(echo_server: int) -> None:
    status, body = _raw(echo_server, _post("100"), b"only 13 bytes")
    assert status == 400
    assert json.loads(body) == {
        "error": "body of 13 bytes is shorter than its Content-Length of 100"
    }


def test_a_missing_body_that_stalls_is_400_after_the_read_timeout(echo_server: int) -> None:
    """The client keeps its side open and never sends the 10 promised bytes."""
    started = time.monotonic()
    status, body = _raw(echo_server, _post("10"), half_close=False)
    assert status == 400
    assert json.loads(body)["error"].startswith("body shorter than its Content-Length of 10 bytes")
    assert time.monotonic() - started < 5


def test_a_content_length_over_the_limit_is_413_and_chunked_is_411(echo_server: int) -> None:
    status, body = _raw(echo_server, _post(str(MAX_BODY + 1)), b"x")
    assert status == 413
    assert json.loads(body) == {
        "error": f"body of {MAX_BODY + 1} bytes is over the limit of {MAX_BODY}"
    }
    chunked = _post(None, "Transfer-Encoding: chunked\n")
    status, body = _raw(echo_server, chunked, b"5\r\nhello\r\n0\r\n\r\n")
    assert status == 411
    assert "send a Content-Length" in json.loads(body)["error"]


def test_the_server_still_answers_after_malformed_requests(echo_server: int) -> None:
    for length in ("abc", "-1", "99"):
        assert _raw(echo_server, _post(length), b"x")[0] == 400
    assert _raw(echo_server, _post("2"), b"ok") == (200, '{"received": 2}')
