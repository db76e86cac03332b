"""The benchmark harness: the echo floor starts like the real service and the load is bounded."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from apps.launch import child_env, free_port, start_service, wait_http
from bench.load import run_load

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


def test_miss_rows_never_repeat_even_as_float32() -> None:
    import numpy as np

    from bench.http import Rows

    rows = Rows([{"a": 32.0, "b": 1.0}, {"a": 40.0, "b": 2.0}])
    taken = rows.take(5) + rows.take(3)  # four laps over two rows, across two takes
    keys = {
        np.float32(b["instances"][0]["a"]).tobytes() + bytes([int(b["instances"][0]["b"])])
        for b in taken
    }
    assert len(keys) == 8
    assert taken[0]["instances"][0] == {"a": 32.0, "b": 1.0}


def test_rounds_merge_into_one_result() -> None:
    from bench.load import LoadResult

    one = LoadResult(2, 0, 1.0, 1.5, 2.0, (1.0, 2.0))
    two = LoadResult(2, 1, 3.0, 3.5, 4.0, (3.0, 4.0))
    merged = LoadResult.merge([one, two])
    assert (merged.requests, merged.failures, merged.rps) == (4, 1, 1.0)
    assert merged.p50_ms == 2.5 and 3.9 < merged.p99_ms <= 4.0
