"""The benchmark harness: the echo floor starts like the real service and the load is bounded."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bench.load import run_load
from trainsmart.launch import child_env, free_port, start_service, wait_http

pytestmark = pytest.mark.server


def test_echo_floor_returns_its_input_under_bounded_load(tmp_path: Path) -> None:
    echo = start_service(
        child_env(None), free_port(), tmp_path / "echo.log", "bench.echo_service:Echo"
    )
    try:
        wait_http(echo, "/readyz")
        bodies = [{"instances": [{"x": i}]} for i in range(5)]
        assert httpx.post(echo.url + "/echo", json=bodies[3]).json() == bodies[3]
        result = run_load(echo.url + "/echo", bodies, concurrency=4, total=40)
    finally:
        echo.stop()
    assert result.requests == 40 and result.failures == 0
    assert 0 < result.p50_ms <= result.p99_ms
