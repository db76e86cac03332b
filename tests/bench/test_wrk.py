"""The wrk driver against a tiny real server: its figures, its failures and its rows."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from bench.wrk import BLOCK, Counters, Fixed, Fresh, WrkResult, lua_script, run_wrk
from tests.services import require_binary

ROW = {"rate_marriage": 4.0, "age": 32.0, "educ": 14.0, "occupation": 3.0}


class Recorder(ThreadingHTTPServer):
    """Answers every POST with 200 (500 when the body asks for it) and keeps the bodies."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.bodies: list[bytes] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/predict"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # wrk drops its connections at the end of a run


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append(body)
        self.send_response(500 if b'"fail"' in body else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    require_binary("wrk", apt_package="wrk")
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _keys(bodies: list[bytes]) -> list[bytes]:
    """Each row's cache identity: its values as float32, as serving's row key sees them."""
    keys = []
    for raw in bodies:
        body = json.loads(raw)
        if "instances" in body:
            rows = body["instances"]
        else:
            cols = body["columns"]
            rows = [
                dict(zip(cols, values, strict=True)) for values in zip(*cols.values(), strict=True)
            ]
        keys += [np.array(list(r.values()), dtype=np.float32).tobytes() for r in rows]
    return keys


def test_wrk_figures_come_from_a_real_run(recorder: Recorder) -> None:
    result = run_wrk(recorder.url, Fresh(ROW), Counters(), seconds=1, connections=4)
    assert result.requests > 20 and result.failed == 0
    # every counted answer reached the server; requests still in flight at the end did too
    assert result.requests <= len(recorder.bodies) <= result.requests + 4
    assert 0.9 <= result.seconds <= 1.5 and result.rps == result.requests / result.seconds
    # wrk 4 adds samples for stalls (coordinated omission): at least one per request
    assert sum(count for _, count in result.histogram) >= result.requests
    assert 0 < result.p50_ms <= result.p99_ms


def test_non_2xx_answers_are_counted_as_failed(recorder: Recorder) -> None:
    result = run_wrk(recorder.url, Fixed({"fail": True}), Counters(), seconds=1, connections=2)
    assert result.requests > 0 and result.status_errors == result.requests == result.failed
    assert set(recorder.bodies) == {b'{"fail": true}'}


def test_warmup_rows_never_reappear_and_no_row_repeats(recorder: Recorder) -> None:
    counters = Counters()
    run_wrk(recorder.url, Fresh(ROW), counters, seconds=1, connections=4, warmup=True)
    warm = _keys(recorder.bodies)
    recorder.bodies.clear()
    run_wrk(recorder.url, Fresh(ROW), counters, seconds=1, connections=4)
    block = [dict(ROW, educ=float(e)) for e in range(5)]
    run_wrk(recorder.url, Fresh(block), counters, seconds=1, connections=2)
    measured = _keys(recorder.bodies)
    assert len(warm) > 20 and len(measured) > 20
    assert not set(warm) & set(measured)
    assert len(set(measured)) == len(measured)  # block rows included: every row new
    base = np.array(list(ROW.values()), dtype=np.float32).tobytes()
    assert base not in warm and base not in measured  # the cache-hit body stays unsent


def test_fixed_and_fresh_scripts_post_json() -> None:
    fixed = lua_script(Fixed({"instances": [ROW]}), 0)
    assert 'wrk.method = "POST"' in fixed and '"Content-Type"] = "application/json"' in fixed
    assert "request = function" not in fixed  # one body, built once by wrk
    fresh = lua_script(Fresh(ROW), BLOCK)
    assert f"local c = {BLOCK} +" in fresh and "done = function" in fresh
    with pytest.raises(ValueError, match="two numeric features"):
        lua_script(Fresh({"age": 32.0, "occupation": "x"}), 0)


def test_rounds_merge_into_one_result() -> None:
    one = WrkResult(4, 0, 0, 1.0, ((1000, 2), (2000, 2)))
    two = WrkResult(4, 1, 1, 3.0, ((2000, 1), (9000, 3)))
    merged = WrkResult.merge([one, two])
    assert (merged.requests, merged.failed, merged.rps) == (8, 2, 2.0)
    assert merged.histogram == ((1000, 2), (2000, 3), (9000, 3))
    assert merged.p50_ms == 2.0 and merged.p99_ms == 9.0


def test_counters_hand_out_disjoint_ranges() -> None:
    counters = Counters()
    ups = [counters.take(1), counters.take(2), counters.take(1)]
    downs = [counters.take(1, warmup=True), counters.take(2, warmup=True)]
    assert ups == [BLOCK, 2 * BLOCK, 4 * BLOCK] and downs == [-BLOCK, -3 * BLOCK]
