"""`/predict` per replica with its state on SQLite (the default) and on PostgreSQL.

One replica (1 worker) per backend, both beside the echo floor, measured in the same
alternating rounds as section 2 (:func:`bench.http.measure`); every request is a cache
miss, so each one writes its row to the input log of its backend. The PostgreSQL server
is Debian's, started on a free loopback port in a throwaway cluster (fsync off, as on a
server whose disk cache is battery-backed; tests/postgres.py). Without it the section
says so and measures nothing.

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
from typing import Any

from apps.settings import load_settings
from bench.http import (
    ECHO,
    ECHO_SERVICE,
    PREDICT_SERVICE,
    HttpRow,
    Rows,
    Target,
    _rows,
    measure,
    sweep_table,
)
from bench.models import train_model
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


def state_rows(config: Path, rows: Rows, total: int, concurrency: int = 16) -> list[HttpRow]:
    """Echo, `/predict` on SQLite and `/predict` on PostgreSQL, side by side."""
    with local_postgres() as url:
        if url is None:
            return []
        settings = load_settings(config)
        version = Registry(settings.paths.model_store, open_database(settings)).production(
            settings.model_name
        )
        assert version is not None, "the bench promotes a model before measuring"
        shared = open_url(url)
        Registry(settings.paths.model_store, shared).promote(
            settings.model_name, version, reason="bench", actor="bench"
        )
        shared.close()
        targets = [
            Target(ECHO_SERVICE, "/echo", {ECHO: None}, {}),
            Target(PREDICT_SERVICE, "/predict", {SQLITE: None}, {}),
            Target(PREDICT_SERVICE, "/predict", {POSTGRES: None}, {"TRAINSMART_DATABASE_URL": url}),
        ]
        return _rows(
            measure(config, targets, rows, (concurrency,), total), 1, [ECHO, SQLITE, POSTGRES]
        )


def state_section(measured: list[HttpRow], table: list[str]) -> list[str]:
    lines = ["## One replica's capacity: the state on SQLite and on PostgreSQL", ""]
    if not measured:
        return [
            *lines,
            "PostgreSQL is not installed here (apt-get install postgresql): not measured.",
        ]
    by_label = {row.label: row.result.rps for row in measured}
    ratio = by_label[POSTGRES] / by_label[SQLITE]
    return [
        *lines,
        "One row per request, every one a cache miss written to the input log; 1 worker; "
        "the three services measured in alternating rounds (as section 2). PostgreSQL runs "
        "on the same 2 cores as the service and the load generator.",
        "",
        *table,
        "",
        f"PostgreSQL state vs SQLite state: {ratio:.2f}x the requests per second.",
    ]


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="trainsmart-bench-state-"))
    config, fair = train_model(workdir, "fair")
    frame = fair.trained.dataset.frame.sample(frac=1.0, random_state=0)
    records: list[dict[str, Any]] = frame.astype(float).to_dict(orient="records")
    measured = state_rows(config, Rows(records), total=3000)
    print("\n".join(state_section(measured, sweep_table(measured))))


if __name__ == "__main__":
    main()
