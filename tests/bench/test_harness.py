"""bench.load, the Python load generator the drift section still drives: bounded, and its
rounds merge."""

from __future__ import annotations

from pathlib import Path

from bench.load import LoadResult, run_load
from bench.servers import started, uvicorn_echo


def test_python_load_is_bounded_and_counts_every_request(tmp_path: Path) -> None:
    with started([uvicorn_echo()], tmp_path) as (echo,):
        bodies = [{"instances": [{"x": i}]} for i in range(5)]
        result = run_load(echo.url + "/echo", bodies, concurrency=4, total=40)
    assert result.requests == 40 and result.failures == 0
    assert 0 < result.p50_ms <= result.p99_ms


def test_rounds_merge_into_one_result() -> None:
    one = LoadResult(2, 0, 1.0, 1.5, 2.0, (1.0, 2.0))
    two = LoadResult(2, 1, 3.0, 3.5, 4.0, (3.0, 4.0))
    merged = LoadResult.merge([one, two])
    assert (merged.requests, merged.failures, merged.rps) == (4, 1, 1.0)
    assert merged.p50_ms == 2.5 and 3.9 < merged.p99_ms <= 4.0
