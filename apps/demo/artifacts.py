"""What the demo leaves behind: the run directory's files and the summary it prints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from apps.settings import Settings
from trainsmart.state import JobStore


def write_artifacts(
    run_dir: Path,
    settings: Settings,
    events: list[dict[str, Any]],
    summary: dict[str, Any],
    jobs: JobStore,
) -> None:
    """timeline.json, summary.json, the drift journal and reports, the jobs' logs."""
    (run_dir / "timeline.json").write_text(json.dumps(events, indent=2))
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    drift = settings.data_dir / "monitoring"
    if drift.is_dir():
        shutil.copytree(drift, run_dir / "drift", dirs_exist_ok=True)
    for job in jobs.list(settings.model_name):
        if job.log_path and Path(job.log_path).is_file():
            shutil.copy(job.log_path, run_dir / f"job-{job.id}.log")


def print_summary(console: Console, summary: dict[str, Any], run_dir: Path) -> None:
    """The accuracy table per version and where the artifacts are."""
    table = Table(
        title="accuracy per version",
        caption="served: rows each version answered; unseen: rows never sent, same for both",
    )
    table.add_column("version")
    table.add_column("served shifted")
    table.add_column("served in-dist.")
    table.add_column("unseen shifted")
    table.add_column("unseen in-dist.")
    shifted = summary.get("accuracy_on_shifted_traffic", {})
    usual = summary.get("accuracy_in_distribution", {})
    same = summary.get("accuracy_on_same_unseen_shifted_rows", {})
    same_usual = summary.get("accuracy_on_same_unseen_in_distribution_rows", {})
    for version in sorted({*shifted, *usual, *same}, key=lambda v: int(v[1:])):
        cells = [
            shifted.get(version),
            usual.get(version),
            same.get(version),
            same_usual.get(version),
        ]
        table.add_row(version, *("-" if c is None else f"{c:.3f}" for c in cells))
    console.print(table)
    if "error" in summary:
        console.print(f"[red]error:[/red] {summary['error']}")
    console.print(
        f"failed requests: {summary.get('failed_requests')}  "
        f"drift subsided after the swap: {summary.get('drift_subsided')}"
    )
    console.print(f"artifacts: {run_dir} (summary.json, timeline.json, drift/, job-*.log, logs/)")
