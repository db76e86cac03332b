"""The optional shadow gate: a retrained shadow candidate is promoted after
training.retrain.shadow_rows mirrored rows, or cleared when its labelled mirrored rows score
worse than the champion's; on real input, shadow and registry tables."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.judge.shadow_gate import ShadowGate
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from tests.monitoring.conftest import MakeBundle
from tests.monitoring.test_monitor import RecordingRunner
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStore, ShadowLog

ROWS = 10


@pytest.fixture
def shadowing(settings: Settings) -> Settings:
    retrain = settings.training.retrain.model_copy(update={"shadow_rows": ROWS})
    training = settings.training.model_copy(update={"retrain": retrain})
    return settings.model_copy(update={"training": training})


def mirror(input_log: InputLog, db: Database, n: int, champion: str, candidate: str) -> None:
    """``n`` production rows of v1 mirrored to v2, each labelled "1"; v1 predicted
    ``champion`` and v2 ``candidate``."""
    for i in range(n):
        rid = f"req-{i}"
        input_log.append(rid, "fair", "v1", [{"age": 30.0}], [{"class": champion}], [False])
        ShadowLog(db).append(rid, "fair", "v2", [{"class": candidate}])
        input_log.add_feedback(rid, "1")


def candidate_by(registry: Registry, actor: str) -> None:
    registry.set_candidate("fair", "v2", shadow=True, actor=actor, reason="passed both gates")


def test_a_better_candidate_is_promoted_after_shadow_rows(
    shadowing: Settings,
    fair_bundle: MakeBundle,
    registry: Registry,
    input_log: InputLog,
    db: Database,
) -> None:
    fair_bundle()
    fair_bundle(promote=False)
    candidate_by(registry, "retrain-job:3")
    gate = ShadowGate(shadowing.monitoring_scope(), registry, input_log, ShadowLog(db))
    mirror(input_log, db, ROWS - 1, champion="0", candidate="1")
    assert gate.check() is None  # 9 of 10 mirrored rows
    input_log.append("last", "fair", "v1", [{"age": 30.0}], [{"class": "0"}], [False])
    ShadowLog(db).append("last", "fair", "v2", [{"class": "1"}])
    reason = gate.check()
    assert reason is not None and registry.production("fair") == "v2"
    assert "10 rows mirrored to v2" in reason
    assert "on 9 labelled mirrored rows its accuracy is 1.0000 vs 0.0000 of v1" in reason
    promotion = registry.audit("fair", action="promote")[0]
    assert (promotion.actor, promotion.from_version, promotion.to_version) == (
        "monitor",
        "v1",
        "v2",
    )
    assert registry.candidate("fair") is None


def test_a_worse_candidate_is_cleared(
    shadowing: Settings,
    fair_bundle: MakeBundle,
    registry: Registry,
    input_log: InputLog,
    db: Database,
) -> None:
    fair_bundle()
    fair_bundle(promote=False)
    candidate_by(registry, "retrain-job:3")
    mirror(input_log, db, ROWS, champion="1", candidate="0")
    jobs = JobStore(db)
    monitor = Monitor(
        shadowing.monitoring_scope(),
        registry,
        input_log,
        jobs,
        RecordingRunner(jobs),
        MonitorMetrics(CollectorRegistry()),
    )
    monitor.check_once()
    assert registry.production("fair") == "v1" and registry.candidate("fair") is None
    cleared = registry.audit("fair", action="candidate-clear")[0]
    assert cleared.actor == "monitor" and "accuracy is 0.0000 vs 1.0000 of v1" in cleared.reason


def test_a_candidate_set_by_hand_is_left_to_its_owner(
    shadowing: Settings,
    fair_bundle: MakeBundle,
    registry: Registry,
    input_log: InputLog,
    db: Database,
) -> None:
    fair_bundle()
    fair_bundle(promote=False)
    candidate_by(registry, "user:alice")
    mirror(input_log, db, ROWS, champion="0", candidate="1")
    assert (
        ShadowGate(shadowing.monitoring_scope(), registry, input_log, ShadowLog(db)).check() is None
    )
    assert registry.production("fair") == "v1"
