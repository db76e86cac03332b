"""Live performance from feedback labels: each version's metric over its most recent
labelled rows, as served (the prediction logged with the row against the label sent
to ``/feedback``).

Classification: accuracy. Regression: mean absolute error (lower is better). A
rolling window of ``rows`` labelled rows per version; versions with no labelled
row in the recent log are left out.

Example::

    for live in live_metrics(input_log.labelled("fair", 2000), window=500):
        live.version, live.metric, live.value, live.rows
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from trainsmart.state.inputlog import LoggedRow


@dataclass(frozen=True)
class LiveMetric:
    """One version's live metric over its last ``rows`` labelled rows."""

    version: str
    metric: str
    """'accuracy' (higher is better) or 'mae' (lower is better)."""
    value: float
    rows: int


def _score(rows: Sequence[LoggedRow]) -> tuple[str, float] | None:
    if all("value" in r.prediction for r in rows):
        errors = []
        for r in rows:
            try:
                errors.append(abs(float(r.prediction["value"]) - float(r.label or "nan")))
            except (TypeError, ValueError):
                continue
        errors = [e for e in errors if e == e]  # NaN labels are not scored
        return ("mae", sum(errors) / len(errors)) if errors else None
    scored = [r for r in rows if "class" in r.prediction]
    if not scored:
        return None
    hits = sum(str(r.prediction["class"]) == str(r.label) for r in scored)
    return "accuracy", hits / len(scored)


def live_metrics(labelled: Sequence[LoggedRow], window: int) -> list[LiveMetric]:
    """Per version (in order of first appearance), its metric over its last ``window``
    rows of ``labelled`` (oldest first, as ``InputLog.labelled`` returns them)."""
    by_version: dict[str, list[LoggedRow]] = defaultdict(list)
    for row in labelled:
        by_version[row.version].append(row)
    out = []
    for version, rows in by_version.items():
        recent = rows[-window:]
        score = _score(recent)
        if score is not None:
            out.append(LiveMetric(version, score[0], score[1], len(recent)))
    return out
