"""Group commit: requests answered in one turn of the event loop share one transaction, and
none is answered before its rows are committed (or after its commit failed)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import pytest

from serving.api import create_direct
from serving.logwrites import LogWriter, collecting
from serving.predictor import Predictor
from tests.conftest import BundleFactory, fair_row
from trainsmart.errors import StateUnavailable
from trainsmart.state import Database, InputLog
from trainsmart.state.inputlog import Entry


class CountingLog(InputLog):
    """The real input log, noting the size of each transaction it writes."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.transactions: list[int] = []

    def append_many(self, entries: Sequence[Entry], ts: float | None = None) -> None:
        super().append_many(entries, ts)
        self.transactions.append(len(entries))


def _rows(log: InputLog, request_id: str) -> int:
    return len(log.request(request_id))


def test_requests_of_one_loop_turn_share_a_transaction_and_wait_for_it(db: Database) -> None:
    log = CountingLog(db)
    writer = LogWriter(log)
    seen_before_answer: list[int] = []

    async def request(i: int) -> None:
        async with collecting():
            writer.append(f"r{i}", "fair", "v1", [{"x": float(i)}], [{"class": "0"}], [False])
            assert _rows(log, f"r{i}") == 0  # queued, not yet committed
        seen_before_answer.append(_rows(log, f"r{i}"))  # what an answer would follow

    async def main() -> None:
        await asyncio.gather(*(request(i) for i in range(20)))

    asyncio.run(main())
    assert log.transactions == [20]
    assert seen_before_answer == [1] * 20


def test_a_failed_group_commit_fails_every_request_of_the_group(db: Database) -> None:
    log = InputLog(db)
    writer = LogWriter(log)
    with db.transaction() as conn:
        conn.execute("ALTER TABLE inputs RENAME TO inputs_gone")  # every insert now fails

    async def request(i: int) -> str:
        try:
            async with collecting():
                writer.append(f"r{i}", "fair", "v1", [{"x": 1.0}], [{"class": "0"}], [False])
        except StateUnavailable as exc:
            return f"refused: {exc}"
        return "answered"

    async def main() -> list[str]:
        return await asyncio.gather(*(request(i) for i in range(5)))

    outcomes = asyncio.run(main())
    assert all(o.startswith("refused: the input log at") for o in outcomes), outcomes


def test_writes_outside_a_request_on_the_loop_commit_at_once(db: Database) -> None:
    log = CountingLog(db)
    writer = LogWriter(log)
    writer.append("plain", "fair", "v1", [{"x": 1.0}], [{"class": "0"}], [False])
    assert log.transactions == [1] and _rows(log, "plain") == 1

    async def in_a_thread_of_the_pool() -> None:
        async with collecting():
            await asyncio.to_thread(
                writer.append, "pool", "fair", "v1", [{"x": 1.0}], [{"class": "0"}], [False]
            )
            assert _rows(log, "pool") == 1  # written by the thread itself, at once

    asyncio.run(in_a_thread_of_the_pool())
    assert log.transactions == [1, 1]


@pytest.mark.anyio
async def test_concurrent_http_requests_are_logged_in_fewer_transactions(
    predictor: Predictor, make_bundle: BundleFactory, db: Database
) -> None:
    make_bundle()
    predictor.holder.refresh()
    log = CountingLog(db)
    predictor.log_writer = LogWriter(log)
    app = create_direct(lambda: predictor, predictor_fallback)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answers = await asyncio.gather(
            *(
                client.post("/predict", json={"instances": [fair_row(age=20 + i)]})
                for i in range(24)
            )
        )
    assert [a.status_code for a in answers] == [200] * 24
    for answer in answers:
        assert _rows(log, answer.json()["request_id"]) == 1
    assert sum(log.transactions) == 24 and len(log.transactions) < 24


async def predictor_fallback(scope: object, receive: object, send: object) -> None:
    raise AssertionError("only /predict is sent here")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_what_follows_a_write_waits_for_its_commit_and_is_skipped_if_it_fails(
    db: Database,
) -> None:
    """The shadow mirror and the prediction count run only for rows that were logged."""
    log = InputLog(db)
    writer = LogWriter(log)
    followed: list[str] = []

    async def request(name: str) -> None:
        async with collecting():
            writer.append(name, "fair", "v1", [{"x": 1.0}], [{"class": "0"}], [False],
                          lambda: followed.append(f"{name}:{_rows(log, name)}"))  # fmt: skip
            assert not [f for f in followed if f.startswith(name)]  # not before the commit

    asyncio.run(request("ok"))
    assert followed == ["ok:1"]
    with db.transaction() as conn:
        conn.execute("ALTER TABLE inputs RENAME TO inputs_gone")
    with pytest.raises(StateUnavailable):
        asyncio.run(request("lost"))
    assert followed == ["ok:1"]
