"""The settle rule on PostgreSQL (monitoring.settle_s, docs/scaling.md "Windows see every
row"), with a real server and a row whose commit is held back.

Replicas commit in parallel, so a row can become visible after rows with higher ids. A
window takes only rows logged at least ``settle_s`` ago (by their ``ts``, read when the
row's transaction starts): a row that commits within ``settle_s`` lands in its window; a
row that commits later than that, after the window covering its id was checked, is in no
window (it stays in the input log, for feedback and retraining).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings, load_settings
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import WINDOW_ROWS, MakeBundle, log_rows
from tests.monitoring.test_monitor import RecordingRunner
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStore, open_url
from trainsmart.state.db import Connection

pytestmark = pytest.mark.sqlite  # picks PostgreSQL itself: run once, in the SQLite run

SETTLE_S = 1.0


class Clock:
    """The monitor's "now", stopped where the test sets it (loading the bundle and Evidently
    on the first check takes real seconds, which must not settle rows by themselves)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str) -> Settings:
    """Windows of WINDOW_ROWS rows on a real PostgreSQL database, settle_s of 1 s."""
    return load_settings(
        data_dir=tmp_path / "data",
        model_name="fair",
        database_url=postgres_url,
        monitoring=MonitoringSettings(
            window_rows=WINDOW_ROWS, min_labelled_rows=0, interval_s=0.05, settle_s=SETTLE_S
        ),
    )


@pytest.fixture
def replica(postgres_url: str) -> Iterator[Database]:
    """A second replica's connection pool to the same database: its transactions are its own."""
    db = open_url(postgres_url)
    yield db
    db.close()


def insert_row(conn: Connection, version: str, row: dict[str, object]) -> int:
    """What ``InputLog.append`` writes for one row (``ts`` read inside the transaction); the
    row's id, taken from the sequence now, visible to others only at commit."""
    found = conn.execute(
        "INSERT INTO inputs (request_id, row_index, ts, model, version, features, prediction,"
        " cache_hit) VALUES (?, 0, ?, 'fair', ?, ?, '{\"class\": \"0\"}', 0) RETURNING id",
        ("late", time.time(), version, pd.Series(row).to_json()),
    ).fetchone()
    assert found is not None
    return int(found[0])


def make_monitor(
    settings: Settings, registry: Registry, input_log: InputLog, clock: Clock
) -> Monitor:
    jobs = JobStore(input_log.db)
    scope = settings.monitoring_scope()
    return Monitor(
        scope,
        registry,
        input_log,
        jobs,
        RecordingRunner(jobs),
        MonitorMetrics(CollectorRegistry()),
        clock=clock,
    )


def test_a_row_committed_within_settle_s_lands_in_its_window(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    replica: Database,
    fair_bundle: MakeBundle,
    unshifted: pd.DataFrame,
) -> None:
    assert input_log.db.dialect == "postgresql"
    version, clock = fair_bundle(), Clock()
    monitor = make_monitor(settings, registry, input_log, clock)
    with replica.transaction() as conn:
        late_id = insert_row(conn, version, unshifted.iloc[0].to_dict())
        log_rows(input_log, version, unshifted.iloc[1 : WINDOW_ROWS + 1], "on-time")
        clock.now = time.time()
        # the rows after it are committed, but younger than settle_s: no window yet
        assert monitor.check_once() == []
    # it commits (well within settle_s); once everything is settled, its window holds it
    clock.now += SETTLE_S + 0.5
    [window] = monitor.check_once()
    assert (window.index, window.first_id, window.last_id) == (0, late_id, late_id + 199)


def test_a_row_committed_after_settle_s_is_left_out_of_every_window(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    replica: Database,
    fair_bundle: MakeBundle,
    unshifted: pd.DataFrame,
) -> None:
    """The documented loss: its id was passed by a window checked while it was uncommitted."""
    version, clock = fair_bundle(), Clock()
    monitor = make_monitor(settings, registry, input_log, clock)
    with replica.transaction() as conn:
        late_id = insert_row(conn, version, unshifted.iloc[0].to_dict())
        log_rows(input_log, version, unshifted.iloc[1 : WINDOW_ROWS + 1], "on-time")
        clock.now = time.time() + SETTLE_S + 0.5  # the rows after it settled; it has not committed
        [first] = monitor.check_once()
    assert (first.first_id, first.last_id) == (late_id + 1, late_id + WINDOW_ROWS)
    # committed now, later than settle_s: logged (feedback and retraining see it) ...
    [late] = input_log.request("late")
    assert late.id == late_id and late.version == version
    input_log.add_feedback("late", "1")
    assert [r.id for r in input_log.labelled("fair", 10)] == [late_id]
    # ... but the windows go on from the cursor and never take it
    log_rows(input_log, version, unshifted.iloc[WINDOW_ROWS + 1 : 2 * WINDOW_ROWS + 1], "next")
    clock.now = time.time() + SETTLE_S + 0.5
    [second] = monitor.check_once()
    assert (second.index, second.first_id) == (1, first.last_id + 1)
    assert monitor.cursor.after_id == second.last_id
    checked = [(w.first_id, w.last_id) for w in (first, second)]
    assert not any(lo <= late_id <= hi for lo, hi in checked)
