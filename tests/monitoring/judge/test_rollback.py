"""Automatic rollback on a crafted live regression: rows served by v2 with feedback labels
score worse than v1's last rows; the monitor rolls back once, audited, counted and
journaled, and judges each promotion only once, across restarts too."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.judge.rollback import RollbackGuard
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.records.journal import DriftJournal
from monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import MakeBundle
from tests.monitoring.test_monitor import RecordingRunner
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStore
from trainsmart.state.cursors import DriftCursors
from trainsmart.state.verdicts import PromotionChecks

WINDOW = 40


@pytest.fixture
def guarded(settings: Settings) -> Settings:
    monitoring = MonitoringSettings(
        **{**dict(settings.monitoring), "rollback_window_rows": WINDOW, "rollback_tolerance": 0.05}
    )
    return settings.model_copy(update={"monitoring": monitoring})


@pytest.fixture
def prom() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_guard(
    guarded: Settings,
    registry: Registry,
    input_log: InputLog,
    db: Database,
    prom: CollectorRegistry,
) -> Callable[[], RollbackGuard]:
    metrics = MonitorMetrics(prom)

    def make() -> RollbackGuard:  # a fresh guard: what a restarted monitor builds
        journal = DriftJournal(guarded.data_dir / "monitoring", "fair", DriftCursors(db))
        return RollbackGuard(
            guarded.monitoring_scope(), registry, input_log, PromotionChecks(db), metrics, journal
        )

    return make


def serve(
    input_log: InputLog, version: str, tag: str, n: int, right: int, regression: bool = False
) -> None:
    """``n`` labelled rows served by ``version`` now, ``right`` of them predicted right
    (regression: an error of 0 on those, 10 on the rest)."""
    for i in range(n):
        request_id = f"{tag}-{version}-{i}"
        prediction = {"value": 100.0} if regression else {"class": "1"}
        input_log.append(request_id, "fair", version, [{"age": 30.0}], [prediction], [False])
        if regression:
            input_log.add_feedback(request_id, "100.0" if i < right else "110.0")
        else:
            input_log.add_feedback(request_id, "1" if i < right else "0")


def promote_after(registry: Registry, version: str) -> None:
    time.sleep(0.01)  # the rows served before have an earlier timestamp than the promotion
    registry.promote("fair", version, reason="retrained")
    time.sleep(0.01)


def journal(settings: Settings) -> list[dict[str, Any]]:
    path = settings.data_dir / "monitoring" / "fair.drift.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_live_regression_is_rolled_back_once(
    make_guard: Callable[[], RollbackGuard],
    fair_bundle: MakeBundle,
    registry: Registry,
    input_log: InputLog,
    db: Database,
    guarded: Settings,
    prom: CollectorRegistry,
) -> None:
    v1 = fair_bundle()
    v2 = fair_bundle(promote=False)
    serve(input_log, v1, "old", WINDOW, right=0)  # older than its last window: not counted
    serve(input_log, v1, "before", WINDOW, right=30)
    promote_after(registry, v2)
    serve(input_log, v2, "after", WINDOW - 1, right=20)
    assert make_guard().check() is None  # 39 of 40 labelled rows: waiting
    serve(input_log, v2, "after-more", 1, right=0)
    verdict = make_guard().check()
    assert verdict is not None and verdict.verdict == "rolled-back"
    assert registry.production("fair") == v1
    latest = registry.audit("fair")[0]
    assert (latest.action, latest.from_version, latest.to_version, latest.actor) == (
        "rollback",
        v2,
        v1,
        "monitor",
    )
    assert "live accuracy of v2 0.5000 on its 40 labelled rows" in latest.reason
    assert "vs 0.7500 of v1 on its last 40 before" in latest.reason
    assert "worse by 0.2500 (> monitoring.rollback_tolerance 0.05)" in latest.reason
    assert prom.get_sample_value("trainsmart_rollbacks_total", {"model": "fair"}) == 1
    [line] = [r for r in journal(guarded) if r.get("event") == "rollback"]
    assert (line["from_version"], line["to_version"], line["live"], line["previous_live"]) == (
        v2,
        v1,
        0.5,
        0.75,
    )
    assert PromotionChecks(db).list("fair")[0].verdict == "rolled-back"
    # a restarted monitor, more bad rows: nothing more to roll back
    serve(input_log, v2, "late", WINDOW, right=0)
    assert make_guard().check() is None
    assert registry.production("fair") == v1
    assert prom.get_sample_value("trainsmart_rollbacks_total", {"model": "fair"}) == 1


def test_a_promotion_that_holds_up_is_kept_and_never_judged_again(
    make_guard: Callable[[], RollbackGuard],
    fair_bundle: MakeBundle,
    registry: Registry,
    input_log: InputLog,
) -> None:
    v1 = fair_bundle()
    v2 = fair_bundle(promote=False)
    serve(input_log, v1, "before", WINDOW, right=30)
    promote_after(registry, v2)
    serve(input_log, v2, "after", WINDOW, right=29)  # 0.725 vs 0.75: within 0.05
    verdict = make_guard().check()
    assert verdict is not None and verdict.verdict == "kept"
    assert "within rollback_tolerance 0.05" in verdict.reason
    serve(input_log, v2, "later", WINDOW, right=0)  # live results sink later: not this check's
    assert make_guard().check() is None
    assert registry.production("fair") == v2


def test_without_a_baseline_nothing_is_rolled_back(
    make_guard: Callable[[], RollbackGuard],
    fair_bundle: MakeBundle,
    registry: Registry,
    input_log: InputLog,
) -> None:
    fair_bundle()
    v2 = fair_bundle(promote=False)
    promote_after(registry, v2)
    serve(input_log, v2, "after", WINDOW, right=0)
    verdict = make_guard().check()
    assert verdict is not None and verdict.verdict == "no-baseline"
    assert "v1 has 0 labelled rows served before v2 was promoted" in verdict.reason
    assert registry.production("fair") == v2


def test_regression_compares_mae_lower_is_better(
    make_guard: Callable[[], RollbackGuard],
    fair_bundle: MakeBundle,
    registry: Registry,
    input_log: InputLog,
) -> None:
    v1 = fair_bundle()
    v2 = fair_bundle(promote=False)
    serve(input_log, v1, "before", WINDOW, right=WINDOW, regression=True)  # mae 0
    promote_after(registry, v2)
    serve(input_log, v2, "after", WINDOW, right=WINDOW - 1, regression=True)  # mae 0.25
    verdict = make_guard().check()
    assert verdict is not None and verdict.verdict == "rolled-back", verdict
    assert "live mae of v2 0.2500" in verdict.reason and registry.production("fair") == v1


def test_the_monitor_rolls_back_in_its_check(
    guarded: Settings,
    fair_bundle: MakeBundle,
    registry: Registry,
    input_log: InputLog,
    db: Database,
    prom: CollectorRegistry,
) -> None:
    v1 = fair_bundle()
    v2 = fair_bundle(promote=False)
    serve(input_log, v1, "before", WINDOW, right=WINDOW)
    promote_after(registry, v2)
    serve(input_log, v2, "after", WINDOW, right=0)
    jobs = JobStore(db)
    monitor = Monitor(
        guarded.monitoring_scope(),
        registry,
        input_log,
        jobs,
        RecordingRunner(jobs),
        MonitorMetrics(prom),
    )
    monitor.check_once()
    assert registry.production("fair") == v1
    assert prom.get_sample_value("trainsmart_rollbacks_total", {"model": "fair"}) == 1
    promoted = prom.get_sample_value(
        "trainsmart_last_promotion_timestamp_seconds", {"model": "fair"}
    )
    assert promoted == registry.audit("fair", action="promote")[0].ts


def test_rollback_can_be_switched_off(
    guarded: Settings,
    registry: Registry,
    input_log: InputLog,
    db: Database,
    fair_bundle: MakeBundle,
) -> None:
    off = MonitoringSettings(**{**dict(guarded.monitoring), "rollback_enabled": False})
    settings = guarded.model_copy(update={"monitoring": off})
    v1 = fair_bundle()
    v2 = fair_bundle(promote=False)
    serve(input_log, v1, "before", WINDOW, right=WINDOW)
    promote_after(registry, v2)
    serve(input_log, v2, "after", WINDOW, right=0)
    metrics = MonitorMetrics(CollectorRegistry())
    journal = DriftJournal(settings.data_dir / "monitoring", "fair", DriftCursors(db))
    guard = RollbackGuard(
        settings.monitoring_scope(), registry, input_log, PromotionChecks(db), metrics, journal
    )
    assert guard.check() is None and registry.production("fair") == v2
