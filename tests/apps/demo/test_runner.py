"""The demo, as `make demo` runs it: `trainsmart demo` end to end with real processes
(training v1, `bentoml serve`, `trainsmart monitor`, a benign drift that retrains nothing,
a harmful one that retrains), about 85 s on 2 cores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from apps.launch import ROOT, child_env
from apps.settings import load_settings
from trainsmart.registry import Registry
from trainsmart.state import JobStatus, JobStore, open_database

pytestmark = pytest.mark.server


def test_the_demo_closes_the_loop_with_no_failed_request(tmp_path: Path) -> None:
    run_dir = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "apps.cli.main", "demo", "--run-dir", str(run_dir)],
        cwd=ROOT,
        env=child_env(None),
        capture_output=True,
        text=True,
        timeout=480,
    )
    error = (run_dir / "error.txt").read_text() if (run_dir / "error.txt").is_file() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:] + error
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "error" not in summary
    assert summary["failed_requests"] == 0 and summary["requests"] > 0
    v1, v2 = summary["versions"]["before"], summary["versions"]["after"]
    assert (v1, v2) == ("v1", "v2")
    assert summary["drift_subsided"] is True
    # the loop closed: drift -> a retrain job that succeeded -> v2 promoted -> served
    settings = load_settings(run_dir / "trainsmart.yaml")
    db = open_database(settings)
    try:
        [job] = JobStore(db).list(settings.model_name)
        assert job.status == JobStatus.SUCCEEDED, job
        assert Registry(settings.paths.model_store, db).production(settings.model_name) == v2
    finally:
        db.close()
    timeline = json.loads((run_dir / "timeline.json").read_text())
    events = [event["event"] for event in timeline]
    assert "drift detected, retrain job started" in events
    assert f"service swapped to {v2} without restart" in events
    journal = run_dir / "drift" / f"{settings.model_name}.drift.jsonl"
    windows = [json.loads(line) for line in journal.read_text().splitlines()]
    drifted_v1 = [w for w in windows if w["version"] == v1 and w["result"]["dataset_drift"]]
    assert drifted_v1 and drifted_v1[-1]["job_id"] == job.id
    check_benign_phase(summary, timeline, job)
    on_v2 = [w["result"]["dataset_drift"] for w in windows if w["version"] == v2]
    assert len(on_v2) >= 2 and not any(on_v2)


def check_benign_phase(summary: dict[str, Any], timeline: list[dict[str, Any]], job: Any) -> None:
    """Before the harmful shift: the inputs drifted, the estimate held, nothing retrained,
    and the timeline says why; the harmful shift's job says it was estimated harm."""
    benign = summary["benign"]
    assert any(benign["dataset_drift"]) and benign["retrain_job"] is None
    assert benign["served_accuracy"] > benign["v1_test_accuracy"] - 0.01  # truly benign
    [event] = [e for e in timeline if e["event"] == "inputs drifted, no retrain"]
    assert event["reason"].startswith("no retrain: inputs drifted in")
    assert "estimated accuracy" in event["reason"] and "holds above" in event["reason"]
    assert event["reason"] == benign["decision"]
    assert job.reason.startswith("drift and estimated harm in 3 consecutive windows of v1")
    [started] = [e for e in timeline if e["event"] == "drift detected, retrain job started"]
    assert started["reason"] == job.reason
