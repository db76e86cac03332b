"""The state database under several writers, on SQLite and on a real PostgreSQL server.

Each test runs once per backend (``backend``): on SQLite in the test's data directory,
on PostgreSQL in a fresh database of the session's server (skipped when PostgreSQL is
not installed, failed under ``make test-all``). "Another process" is another Database
object: its own connections (SQLite) or its own connection pool (PostgreSQL), as a
second replica, monitor or CLI would have.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apps.settings import Settings
from tests.conftest import BundleFactory
from trainsmart.errors import RegistryError
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStore, open_url
from trainsmart.state.leases import Lease

Opener = Callable[[], Database]

pytestmark = pytest.mark.sqlite  # chooses its backends itself: run once, in the SQLite run


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Opener]:
    """Opens one more connection to one shared state database of the given backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{settings.paths.state_db}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened: list[Database] = []

    def open_another() -> Database:
        opened.append(open_url(url))
        return opened[-1]

    yield open_another
    for database in opened:
        database.close()


def run_together(actions: list[Callable[[], object]]) -> list[object]:
    """Run ``actions`` in threads released at the same instant; their results or errors."""
    start = threading.Barrier(len(actions))
    results: list[object] = [TimeoutError("still running after 60 s")] * len(actions)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = actions[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return list(results)


def registries(backend: Opener, store: Path, n: int) -> list[Registry]:
    return [Registry(store, backend()) for _ in range(n)]


def test_simultaneous_promotions_leave_one_consistent_history(
    backend: Opener, settings: Settings, make_bundle: BundleFactory
) -> None:
    for _ in range(6):
        make_bundle(promote=False)
    places = registries(backend, settings.paths.model_store, 6)
    places[0].promote("fair", "v1", reason="first")
    outcomes = run_together(
        [
            lambda r=r, v=v: r.promote("fair", v, reason=f"from place {v}")  # type: ignore[misc]
            for r, v in zip(places[1:], ["v2", "v3", "v4", "v5", "v6"], strict=True)
        ]
    )
    assert all(o is None for o in outcomes), outcomes
    history = places[0].history("fair")
    assert history[0] == "v1" and sorted(history) == ["v1", "v2", "v3", "v4", "v5", "v6"]
    # the audit trail replays to the same stack: each promotion saw the one before it
    promotions = [a for a in reversed(places[0].audit("fair")) if a.action == "promote"]
    assert [a.to_version for a in promotions] == history
    assert [a.from_version for a in promotions] == [None, *history[:-1]]


def test_a_guarded_promotion_race_has_one_winner(
    backend: Opener, settings: Settings, make_bundle: BundleFactory
) -> None:
    make_bundle(promote=False), make_bundle(promote=False), make_bundle(promote=False)
    one, two, three = registries(backend, settings.paths.model_store, 3)
    one.promote("fair", "v1", reason="first")
    outcomes = run_together(
        [
            lambda: two.promote("fair", "v2", reason="retrain a", only_if_current="v1"),
            lambda: three.promote("fair", "v3", reason="retrain b", only_if_current="v1"),
        ]
    )
    errors = [o for o in outcomes if isinstance(o, RegistryError)]
    assert len(errors) == 1 and "meanwhile" in str(errors[0]), outcomes
    assert one.history("fair")[0] == "v1" and len(one.history("fair")) == 2


def test_simultaneous_rollbacks_pop_one_version_each(
    backend: Opener, settings: Settings, make_bundle: BundleFactory
) -> None:
    one, two = registries(backend, settings.paths.model_store, 2)
    for _ in range(3):
        one.promote("fair", make_bundle(promote=False), reason="test")
    outcomes = run_together(
        [
            lambda: one.rollback("fair", reason="a", only_if_current="v3"),
            lambda: two.rollback("fair", reason="b", only_if_current="v3"),
        ]
    )
    assert sorted(map(type, outcomes), key=str) == sorted([str, RegistryError], key=str)
    assert one.history("fair") == ["v1", "v2"]


def test_two_monitors_never_queue_two_jobs_for_one_model(backend: Opener) -> None:
    stores = [JobStore(backend()) for _ in range(4)]
    created = run_together([lambda s=s: s.create("fair", "drift") for s in stores])  # type: ignore[misc]
    jobs = [c for c in created if c is not None]
    assert len(jobs) == 1, created
    assert stores[0].counts("fair") == {"queued": 1}
    assert stores[1].create("other", "drift") is not None  # one in flight per model


def test_one_lease_holder_at_a_time_and_takeover_after_expiry(backend: Opener) -> None:
    now = [1000.0]
    leases = [
        Lease(backend(), "monitor:fair", holder=f"m{i}", ttl_s=30, clock=lambda: now[0])
        for i in range(4)
    ]
    held = run_together([lease.acquire for lease in leases])
    assert held.count(True) == 1, held
    leader = leases[held.index(True)]
    others = [lease for lease in leases if lease is not leader]
    now[0] += 20
    assert leader.acquire() and not any(o.acquire() for o in others)  # renewed
    now[0] += 31  # the leader stopped renewing: its lease expired
    assert others[0].acquire() and not leader.acquire()
    assert others[0].current() is not None and others[0].current().holder == others[0].holder  # type: ignore[union-attr]
    others[0].release()
    assert leader.current() is None and leader.acquire()


def test_writers_on_several_connections_lose_no_row(backend: Opener) -> None:
    logs = [InputLog(backend()) for _ in range(4)]

    def write(i: int) -> None:
        for n in range(25):
            logs[i].append(f"req-{i}-{n}", "fair", "v1", [{"x": n}], [{"class": "0"}], [False])

    run_together([lambda i=i: write(i) for i in range(4)])  # type: ignore[misc]
    assert logs[0].count("fair") == 100
    assert {r.request_id for r in logs[1].recent("fair", 1000)} == {
        f"req-{i}-{n}" for i in range(4) for n in range(25)
    }
