"""`/predict` per replica with its state on SQLite (the default) and on PostgreSQL.

One replica (1 worker) per backend, both beside the hand-written server, measured with
wrk in the same alternating rounds as section 2 (:func:`bench.measure.measure`); every
request is a cache miss, so each one writes its row to the input log of its backend. The
PostgreSQL server is Debian's, started on a free loopback port in a throwaway cluster
(fsync off, as on a server whose disk cache is battery-backed; tests/postgres.py).
Without it the section says so and measures nothing.

Run alone (trains the default model first)::

    .venv/bin/python -m bench.state
"""

from __future__ import annotations

import glob
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from apps.settings import load_settings
from bench.http import Inputs, inputs
from bench.measure import HANDWRITTEN, HttpRow, Load, Plan, Target, http_table, measure
from bench.models import train_model
from bench.servers import handwritten, trainsmart
from bench.wrk import Counters, Fresh
from trainsmart.registry import Registry
from trainsmart.state import open_database, open_url

SQLITE, POSTGRES = (
    "/predict, SQLite state, cache misses",
    "/predict, PostgreSQL state, cache misses",
)
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def local_postgres() -> Iterator[str | None]:
    """A database on a throwaway PostgreSQL server (its URL), or None if not installed."""
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        yield None
        return
    sys.path.insert(0, str(ROOT))
    # lazy: the test harness's PostgreSQL server, from the checkout (sys.path above)
    from tests.postgres import PostgresServer, find_postgres_bin

    with PostgresServer(find_postgres_bin()) as server:
        yield server.create_database()


def state_rows(
    given: Inputs, plan: Plan, logs: Path, counters: Counters, connections: int = 16
) -> list[HttpRow]:
    """The hand-written server, `/predict` on SQLite and `/predict` on PostgreSQL, side by
    side; empty without PostgreSQL."""
    with local_postgres() as url:
        if url is None:
            return []
        settings = load_settings(given.config)
        version = Registry(settings.paths.model_store, open_database(settings)).production(
            settings.model_name
        )
        if version is None:
            raise RuntimeError("the bench promotes a model before measuring")
        shared = open_url(url)
        Registry(settings.paths.model_store, shared).promote(
            settings.model_name, version, reason="bench", actor="bench"
        )
        shared.close()
        fresh = Fresh(given.records[0])
        targets = [
            Target(
                handwritten(given.model, given.contract),
                [Load(HANDWRITTEN, "/predict", fresh, connections)],
            ),
            Target(trainsmart(given.config), [Load(SQLITE, "/predict", fresh, connections)]),
            Target(
                trainsmart(given.config, env={"TRAINSMART_DATABASE_URL": url}),
                [Load(POSTGRES, "/predict", fresh, connections)],
            ),
        ]
        return measure(targets, plan, logs, counters)


def state_section(measured: list[HttpRow]) -> list[str]:
    lines = ["## One replica's capacity: the state on SQLite and on PostgreSQL", ""]
    if not measured:
        return [
            *lines,
            "PostgreSQL is not installed here (apt-get install postgresql): not measured.",
        ]
    by_label = {row.label: row.result.rps for row in measured}
    ratio = by_label[POSTGRES] / by_label[SQLITE] if by_label[SQLITE] else float("nan")
    return [
        *lines,
        "One row per request, every one a cache miss written to the input log; 1 worker; "
        "wrk drives the three servers in alternating rounds (as section 2). PostgreSQL runs "
        "on the same cores as the service and wrk.",
        "",
        *http_table(measured),
        "",
        f"PostgreSQL state vs SQLite state: {ratio:.2f}x the requests per second "
        f"({by_label[POSTGRES]:,.0f} vs {by_label[SQLITE]:,.0f}).",
    ]


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="trainsmart-bench-state-"))
    config, _ = train_model(workdir, "fair")
    measured = state_rows(inputs(config), Plan(), workdir / "logs", Counters())
    print("\n".join(state_section(measured)))


if __name__ == "__main__":
    main()
