"""The optional third gate: a retrained challenger serves in shadow before it is promoted.

With ``training.retrain.shadow_rows`` set, a challenger that passed the holdout and test
gates becomes the shadow candidate instead of production (``training/retrain.py``): the
service mirrors every production request to it and stores its answers
(``trainsmart/state/shadowlog.py``), never returning them. Once ``shadow_rows`` rows were
mirrored, the monitor decides, on the mirrored rows that got a feedback label:

* the candidate's live metric (``monitoring/judge/live.py``) is worse than the champion's on the
  same rows by more than ``monitoring.rollback_tolerance``: the candidate is cleared;
* otherwise (also when none of them is labelled yet): it is promoted, as actor
  ``monitor``, only while the champion it shadowed is still in production. The rollback
  guard then judges that promotion like any other.

Only candidates set by a retrain job are handled; one set by hand waits for its owner.

Example::

    gate = ShadowGate(scope, registry, input_log, ShadowLog(db))
    gate.check()     # None while waiting; else what was done, as one line
"""

from __future__ import annotations

import logging

from monitoring.judge.live import LiveMetric, live_metrics
from monitoring.judge.rollback import ACTOR, worse_by
from monitoring.settings import MonitoringScope
from trainsmart.errors import RegistryError
from trainsmart.registry.store import Registry
from trainsmart.state.inputlog import InputLog, LoggedRow
from trainsmart.state.shadowlog import ShadowLog, ShadowPair

log = logging.getLogger(__name__)


class ShadowGate:
    """Promotes or clears the shadow candidate a retrain job set."""

    def __init__(
        self, scope: MonitoringScope, registry: Registry, input_log: InputLog, shadow: ShadowLog
    ) -> None:
        self.rows = scope.retrain.shadow_rows
        self.tolerance = scope.monitoring.rollback_tolerance
        self.model = scope.model_name
        self.registry = registry
        self.input_log = input_log
        self.shadow = shadow

    def check(self) -> str | None:
        """Decide on the candidate once it has ``shadow_rows`` mirrored rows."""
        candidate = self.registry.candidate(self.model)
        if self.rows is None or candidate is None or not candidate.shadow:
            return None
        latest = self.registry.audit(self.model, limit=1, action="candidate")
        if not latest or latest[0].to_version != candidate.version:
            return None
        if not latest[0].actor.startswith("retrain-job:"):
            return None  # set by hand: its owner promotes it
        if self.shadow.count(self.model, candidate.version) < self.rows:
            return None
        pairs = self.shadow.compare(self.model, limit=self.rows, version=candidate.version)
        champion = pairs[-1].champion_version
        scores = self._scores(pairs, champion, since=candidate.set_at)
        version = candidate.version
        if scores is None:
            figures = f"none of its {len(pairs)} mirrored rows has a feedback label yet"
        else:
            old, new = scores
            figures = (
                f"on {new.rows} labelled mirrored rows its {new.metric} is {new.value:.4f} vs "
                f"{old.value:.4f} of {champion}"
            )
            if worse_by(new.metric, new.value, old.value) > self.tolerance:
                reason = (
                    f"shadow gate: {figures} (> monitoring.rollback_tolerance {self.tolerance:g})"
                )
                self.registry.clear_candidate(self.model, actor=ACTOR, reason=reason)
                log.warning("%s: shadow candidate %s cleared: %s", self.model, version, reason)
                return reason
        reason = f"shadow gate: {len(pairs)} rows mirrored to {version}; {figures}"
        try:
            self.registry.promote(
                self.model, version, actor=ACTOR, reason=reason, only_if_current=champion
            )
        except RegistryError as exc:
            log.warning("%s: shadow candidate %s not promoted: %s", self.model, version, exc)
            return None
        log.info("%s: shadow candidate %s promoted: %s", self.model, version, reason)
        return reason

    def _scores(
        self, pairs: list[ShadowPair], champion: str, since: float
    ) -> tuple[LiveMetric, LiveMetric] | None:
        """(champion's, candidate's) live metric on the labelled mirrored rows, or None."""
        served = self.input_log.labelled_version(self.model, champion, 10 * len(pairs), since=since)
        labels = {(r.request_id, r.row_index): r.label for r in served}
        old_rows: list[LoggedRow] = []
        new_rows: list[LoggedRow] = []
        for p in pairs:
            label = labels.get((p.request_id, p.row_index))
            if label is None:
                continue
            for rows, version, prediction in (
                (old_rows, champion, p.champion),
                (new_rows, p.candidate_version, p.candidate),
            ):
                rows.append(
                    LoggedRow(0, p.request_id, p.row_index, p.ts, self.model, version, {},
                              prediction, False, label)
                )  # fmt: skip
        old, new = live_metrics(old_rows, len(pairs)), live_metrics(new_rows, len(pairs))
        return (old[0], new[0]) if old and new else None
