"""The demo's benign phase: inputs that drift while the model keeps performing.

Two windows of young, happy marriages are sent to v1. Their inputs drift (ages, years
married, children, the marriage rating), but v1's accuracy there is higher than on its
test split, and the monitor's label-free estimate (CBPE on calibrated probabilities)
sees it: with ``monitoring.trigger: both`` no retrain starts, and the timeline says why,
quoting the monitor's decision for the last window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from apps.demo.scenario import BENIGN_DESCRIPTION, Scenario
from apps.demo.traffic import TrafficReplayer

BENIGN_WINDOWS = 2


class AddEvent(Protocol):
    def __call__(self, what: str, **details: Any) -> None: ...


def run_benign_phase(
    scenario: Scenario,
    version: str,
    replayer: TrafficReplayer,
    window_rows: int,
    windows: Callable[[], list[dict[str, Any]]],
    wait: Callable[[str, Callable[[], Any], float], Any],
    last_job: Callable[[], Any],
    add: AddEvent,
) -> dict[str, Any]:
    """Send the benign windows to ``version``, wait until the monitor checked them, and
    record what it decided.

    ``windows``: the version's journal lines so far; ``wait(what, check, timeout_s)``; ``last_job``:
    the model's newest retrain job (None: none). Returns the phase's summary.
    """
    rows, labels = scenario.rows(scenario.benign)
    n = BENIGN_WINDOWS * window_rows
    before = len(windows())
    add("benign shift begins", population=BENIGN_DESCRIPTION)
    replayer.replay("benign", rows[:n], labels[:n])
    checked = wait(
        f"{BENIGN_WINDOWS} benign windows",
        lambda: len(windows()) >= before + BENIGN_WINDOWS and windows()[before:],
        120,
    )
    job = last_job()
    drifted = [bool(w.get("result", {}).get("dataset_drift")) for w in checked]
    decision = str(checked[-1].get("decision") or "")
    estimates = [
        (w.get("estimate") or {}).get("metrics", {}).get("accuracy", {}).get("value")
        for w in checked
    ]
    add(
        "inputs drifted, no retrain" if job is None else "benign drift started a retrain",
        dataset_drift=drifted,
        reason=decision,
    )
    return {
        "population": BENIGN_DESCRIPTION,
        "windows": len(checked),
        "dataset_drift": drifted,
        "estimated_accuracy": [None if e is None else round(float(e), 3) for e in estimates],
        "served_accuracy": replayer.score.accuracy("benign", version),
        "decision": decision,
        "retrain_job": None if job is None else job.id,
    }
