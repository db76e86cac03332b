"""Several monitors of one model: one leads, the others stand by and take over when the
leader stops (cleanly: at once; killed: once its lease expires)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from apps.launch import Child, child_env, free_port, start_monitor, wait_http
from apps.settings import Settings
from monitoring.leader import Leadership
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import WINDOW_ROWS, MakeBundle, log_rows
from tests.monitoring.test_monitor import RecordingRunner
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStore
from trainsmart.state.cursors import DriftCursors
from trainsmart.state.leases import Lease


def leader_gauge(metrics: MonitorMetrics) -> float | None:
    return metrics.registry.get_sample_value("trainsmart_monitor_leader", {"model": "fair"})


def test_one_leads_the_other_stands_by_until_it_is_released(db: Database) -> None:
    now = [0.0]
    made = [
        (
            Lease(db, "monitor:fair", f"m{i}", ttl_s=10, clock=lambda: now[0]),
            MonitorMetrics(CollectorRegistry()),
        )
        for i in range(2)
    ]
    first, second = (Leadership(lease, metrics, "fair") for lease, metrics in made)
    assert first.lead() and not second.lead()
    assert leader_gauge(made[0][1]) == 1 and leader_gauge(made[1][1]) == 0
    now[0] += 5
    assert first.lead() and not second.lead()  # renewed each check
    first.release()
    assert second.lead() and not first.lead()
    assert leader_gauge(made[0][1]) == 0 and leader_gauge(made[1][1]) == 1


def gauge(child: Child) -> float | None:
    try:
        text = httpx.get(child.url + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith('trainsmart_monitor_leader{model="fair"}'):
            return float(line.split()[-1])
    return None


@pytest.mark.server
def test_a_standby_monitor_takes_over_when_the_leader_is_killed(
    settings: Settings, fair_bundle: MakeBundle, tmp_path: Path
) -> None:
    fair_bundle()
    env = child_env(
        None,
        TRAINSMART_DATA_DIR=str(settings.data_dir),
        TRAINSMART_MODEL_NAME="fair",
        TRAINSMART_MONITORING__INTERVAL_S="0.2",
        TRAINSMART_MONITORING__LEADER_LEASE_S="2",
    )
    monitors = [start_monitor(env, free_port(), tmp_path / f"monitor-{i}.log") for i in range(2)]
    try:
        for monitor in monitors:
            wait_http(monitor, "/metrics", timeout_s=120)
        deadline = time.monotonic() + 30
        while sorted(gauge(m) or 0 for m in monitors) != [0.0, 1.0]:
            assert time.monotonic() < deadline, [m.log_tail() for m in monitors]
            time.sleep(0.2)
        leader = next(m for m in monitors if gauge(m) == 1.0)
        standby = next(m for m in monitors if m is not leader)
        leader.process.kill()  # no release: the standby waits for the lease to expire
        killed_at = time.monotonic()
        while gauge(standby) != 1.0:
            assert time.monotonic() - killed_at < 30, standby.log_tail()
            time.sleep(0.2)
        assert "standing by" in standby.log_tail(200) and "leads" in standby.log_tail(200)
    finally:
        for monitor in monitors:
            monitor.stop()


@pytest.fixture
def make_monitor(
    settings: Settings, registry: Registry, input_log: InputLog, db: Database
) -> Callable[[], Monitor]:
    jobs = JobStore(db)

    def make() -> Monitor:
        metrics = MonitorMetrics(CollectorRegistry())
        return Monitor(
            settings.monitoring_scope(), registry, input_log, jobs, RecordingRunner(jobs), metrics
        )

    return make


def test_a_monitor_that_loses_the_lease_mid_backlog_stops_after_the_window_in_hand(
    make_monitor: Callable[[], Monitor],
    fair_bundle: MakeBundle,
    input_log: InputLog,
    unshifted: pd.DataFrame,
    db: Database,
) -> None:
    now = [0.0]
    ours = Lease(db, "monitor:fair", "ours", ttl_s=10, clock=lambda: now[0])
    theirs = Lease(db, "monitor:fair", "theirs", ttl_s=10, clock=lambda: now[0])
    monitor = make_monitor()
    monitor.leadership = Leadership(ours, monitor.metrics, "fair")
    assert monitor.leadership.lead()
    version = fair_bundle()
    log_rows(input_log, version, unshifted.iloc[: 3 * WINDOW_ROWS], "backlog")
    now[0] += 11  # our check ran past the lease: another monitor took it over
    assert theirs.acquire()
    assert [w.index for w in monitor.check_once()] == [0]
    # the new leader resumes after the window we finished, from the database
    successor = make_monitor()
    assert [w.index for w in successor.check_once()] == [1, 2]


def test_the_lease_must_outlive_the_interval_between_checks() -> None:
    with pytest.raises(ValueError, match="at least twice interval_s"):
        MonitoringSettings(interval_s=60, leader_lease_s=60)


def checked_windows(log: str) -> list[int]:
    """The window numbers a monitor's log says it checked ("fair:v1 window 3: drift ...")."""
    return [int(n) for n in re.findall(r"fair:\S+ window (\d+): drift share", log)]


@pytest.mark.server
def test_a_killed_monitor_hands_the_lease_over_and_windows_resume_from_its_cursor(
    settings: Settings,
    fair_bundle: MakeBundle,
    input_log: InputLog,
    db: Database,
    unshifted: pd.DataFrame,
    tmp_path: Path,
) -> None:
    """Two real ``trainsmart monitor`` processes; the leader is SIGKILLed mid-stream. The
    standby takes the lease once it expires and goes on from the saved cursor: every window
    is checked and journaled exactly once, in order, with no row range skipped."""
    version = fair_bundle()
    log_rows(input_log, version, unshifted.iloc[: 4 * WINDOW_ROWS], "before")
    env = child_env(
        None,
        TRAINSMART_DATA_DIR=str(settings.data_dir),
        TRAINSMART_MODEL_NAME="fair",
        TRAINSMART_MONITORING__INTERVAL_S="0.2",
        TRAINSMART_MONITORING__LEADER_LEASE_S="4",  # outlives a window's check on 2 busy cores
        TRAINSMART_MONITORING__WINDOW_ROWS=str(WINDOW_ROWS),
        TRAINSMART_MONITORING__RETRAIN_ENABLED="false",
        # the full HTML report for every window: a check takes long enough to be killed in
        TRAINSMART_MONITORING__REPORT_EVERY_WINDOW="true",
    )
    monitors = [start_monitor(env, free_port(), tmp_path / f"monitor-{i}.log") for i in range(2)]
    cursors, lease = DriftCursors(db), "SELECT holder FROM leases WHERE name = 'monitor:fair'"
    try:
        for monitor in monitors:
            wait_http(monitor, "/metrics", timeout_s=120)
        deadline = time.monotonic() + 60
        while (cursors.get("fair", version) or {}).get("windows", 0) < 2:
            assert time.monotonic() < deadline, [m.log_tail() for m in monitors]
            time.sleep(0.05)
        [holder] = db.connection().execute(lease).fetchone()
        leader = next(m for m in monitors if holder.endswith(f":{m.process.pid}"))
        standby = next(m for m in monitors if m is not leader)
        leader.process.kill()  # mid-stream: windows 2 and 3 are logged, more follow
        leader.process.wait(timeout=10)
        log_rows(input_log, version, unshifted.iloc[4 * WINDOW_ROWS : 6 * WINDOW_ROWS], "after")
        deadline = time.monotonic() + 60
        while (cursors.get("fair", version) or {}).get("windows", 0) < 6:
            assert time.monotonic() < deadline, standby.log_tail()
            time.sleep(0.1)
        assert gauge(standby) == 1.0
        [new_holder] = db.connection().execute(lease).fetchone()
    finally:
        for monitor in monitors:
            monitor.stop()
    assert new_holder.endswith(f":{standby.process.pid}") and new_holder != holder
    ids = [r[0] for r in db.connection().execute("SELECT id FROM inputs ORDER BY id")]
    lines = [
        json.loads(line)
        for line in (settings.data_dir / "monitoring" / "fair.drift.jsonl").read_text().splitlines()
    ]
    assert [line["window"] for line in lines] == list(range(6))
    assert [(line["first_id"], line["last_id"]) for line in lines] == [
        (ids[i], ids[i + WINDOW_ROWS - 1]) for i in range(0, 6 * WINDOW_ROWS, WINDOW_ROWS)
    ]
    assert all("error" not in line for line in lines)
    assert cursors.get("fair", version) == {"after_id": ids[-1], "windows": 6, "streak": 0}
    before, after = (checked_windows(m.log_path.read_text()) for m in (leader, standby))
    assert set(before).isdisjoint(after) and {4, 5} <= set(after)
    assert sorted(before + after) == list(range(6)) or "counted as checked" in standby.log_tail()
