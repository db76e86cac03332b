"""Automatic rollback: a promotion that made live results worse is undone, once.

The gate of ``training/retrain.py`` judges a challenger on held-out rows; live traffic
is the final judge. After each promotion the monitor waits until the new champion has
served ``monitoring.rollback_window_rows`` rows that got a feedback label, then compares
its live metric on them with the previous champion's on its last labelled rows served
before the promotion (the metric of ``monitoring/judge/live.py``: accuracy, or mean absolute
error for regression, from the prediction logged with each row against its label).

Worse by more than ``monitoring.rollback_tolerance``: ``Registry.rollback`` as actor
``monitor`` with a reason naming both figures (the audit log keeps it), only while that
version is still in production; ``trainsmart_rollbacks_total{model}`` counts it and the
drift journal gets an ``"event": "rollback"`` line. Either way the verdict is stored per
promotion (``trainsmart/state/verdicts.py``): no promotion is judged, or rolled back,
twice, across monitor restarts too.

Example::

    guard = RollbackGuard(scope, registry, input_log, PromotionChecks(db), metrics, journal)
    verdict = guard.check()     # None while waiting; else the verdict just recorded
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from monitoring.judge.live import LiveMetric, live_metrics
from monitoring.metrics import MonitorMetrics
from monitoring.records.journal import DriftJournal
from monitoring.settings import MonitoringScope
from trainsmart.errors import RegistryError
from trainsmart.registry.store import AuditEntry, Registry
from trainsmart.state.inputlog import InputLog
from trainsmart.state.verdicts import Outcome, PromotionChecks, Verdict

log = logging.getLogger(__name__)
ACTOR = "monitor"


def worse_by(metric: str, new: float, old: float) -> float:
    """How much worse ``new`` is than ``old`` (positive: worse); mae is lower-is-better."""
    return new - old if metric == "mae" else old - new


class RollbackGuard:
    """Judges the promotion that put the current production version there."""

    def __init__(
        self,
        scope: MonitoringScope,
        registry: Registry,
        input_log: InputLog,
        checks: PromotionChecks,
        metrics: MonitorMetrics,
        journal: DriftJournal,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = scope.monitoring
        self.model = scope.model_name
        self.registry = registry
        self.input_log = input_log
        self.checks = checks
        self.metrics = metrics
        self.journal = journal
        self.clock = clock

    def check(self) -> Verdict | None:
        """Judge the current promotion if its window is full; None while there is nothing
        to judge (no promotion to compare, already judged, too few labelled rows yet)."""
        if not self.config.rollback_enabled:
            return None
        version = self.registry.production(self.model)
        promotion = None if version is None else self.registry.promotion(self.model, version)
        if promotion is None or promotion.from_version is None or version is None:
            return None
        if self.checks.get(promotion.id) is not None:
            return None
        rows = self.config.rollback_window_rows
        new = self._live(version, since=promotion.ts)
        if new is None or new.rows < rows:
            return None
        old = self._live(promotion.from_version, before=promotion.ts)
        if old is None or old.rows < rows or old.metric != new.metric:
            found = 0 if old is None else old.rows
            return self._record(
                promotion,
                "no-baseline",
                f"{promotion.from_version} has {found} labelled rows served before "
                f"{version} was promoted (need {rows}, monitoring.rollback_window_rows); "
                f"{version} stays without a comparison",
            )
        loss = worse_by(new.metric, new.value, old.value)
        figures = (
            f"live {new.metric} of {version} {new.value:.4f} on its {new.rows} labelled rows "
            f"vs {old.value:.4f} of {promotion.from_version} on its last {old.rows} before"
        )
        tolerance = self.config.rollback_tolerance
        if loss <= tolerance:
            return self._record(
                promotion, "kept", f"{figures}: within rollback_tolerance {tolerance:g}"
            )
        reason = (
            f"automatic rollback: {figures}, worse by {loss:.4f} "
            f"(> monitoring.rollback_tolerance {tolerance:g})"
        )
        try:
            restored = self.registry.rollback(
                self.model, actor=ACTOR, reason=reason, only_if_current=version
            )
        except RegistryError as exc:
            log.warning("%s: %s; but the rollback failed: %s", self.model, reason, exc.message)
            return None  # production moved meanwhile: the next check judges the new promotion
        self.metrics.rollback(self.model)
        self.journal.append(
            {
                "event": "rollback",
                "model": self.model,
                "from_version": version,
                "to_version": restored,
                "metric": new.metric,
                "live": new.value,
                "previous_live": old.value,
                "rows": new.rows,
                "ts": self.clock(),
                "reason": reason,
            }
        )
        log.warning("%s: rolled back %s -> %s: %s", self.model, version, restored, reason)
        return self._record(promotion, "rolled-back", reason)

    def _live(
        self, version: str, *, since: float | None = None, before: float | None = None
    ) -> LiveMetric | None:
        """``version``'s live metric on its latest labelled rows served since ``since``
        (the new champion) or before ``before`` (the previous one)."""
        window = self.config.rollback_window_rows
        rows = self.input_log.labelled_version(
            self.model, version, window, since=since, before=before
        )
        found = live_metrics(rows, window)
        return found[0] if found else None

    def _record(self, promotion: AuditEntry, outcome: Outcome, reason: str) -> Verdict:
        verdict = Verdict(
            promotion.id,
            self.model,
            str(promotion.to_version),
            str(promotion.from_version),
            outcome,
            reason,
            self.clock(),
        )
        self.checks.record(verdict)
        if outcome != "rolled-back":
            log.info(
                "%s: promotion of %s judged %s: %s", self.model, verdict.version, outcome, reason
            )
        return verdict
