"""serving.http.answer: small requests run on the event loop, the rest in the thread pool."""

from __future__ import annotations

import asyncio
import threading

import pytest
from starlette.requests import Request

from serving.http import answer
from serving.settings import ServingSettings


def _request(body: bytes) -> Request:
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({"type": "http", "method": "POST", "headers": []}, receive)


def _thread_of(settings: ServingSettings, body: bytes) -> threading.Thread:
    async def run() -> tuple[threading.Thread, threading.Thread]:
        request = _request(body)
        await request.body()
        ran_on = await answer(settings, request, threading.current_thread)
        return ran_on, threading.current_thread()

    ran_on, loop_thread = asyncio.run(run())
    return ran_on if ran_on is not loop_thread else threading.main_thread()


SMALL = b'{"instances": [{"a": 1}]}'


def test_a_small_body_runs_on_the_event_loop() -> None:
    assert _thread_of(ServingSettings(), SMALL) is threading.main_thread()


@pytest.mark.parametrize(
    ("settings", "body"),
    [
        (ServingSettings(), b" " * (16 * 1024 + 1)),  # over inline_max_body_bytes
        (ServingSettings(inline_max_body_bytes=0), SMALL),  # 0: always the pool
        (ServingSettings(batching=True), SMALL),  # waits on other requests' rows
        (ServingSettings(cache_backend="redis"), SMALL),  # a network round trip
    ],
    ids=["large body", "inline off", "batching", "redis cache"],
)
def test_other_requests_run_in_the_thread_pool(settings: ServingSettings, body: bytes) -> None:
    assert _thread_of(settings, body) is not threading.main_thread()
