"""``trainsmart demo``: run the closed loop on the shipped dataset."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where artifacts go (default: runs/demo-<UTC timestamp>).",
)
def demo(run_dir: Path | None) -> None:
    """Train v1, serve it, replay in-distribution then shifted traffic, and watch the
    loop close: drift, retrain job, v2 promoted, hot swap, drift subsiding."""
    # lazy: the demo pulls torch and evidently; other commands start without them
    from apps.demo.runner import run_demo

    summary = run_demo(run_dir)
    if "error" in summary or summary.get("failed_requests") or not summary.get("drift_subsided"):
        raise click.ClickException(
            f"the loop did not close cleanly; see {summary['run_dir']} (logs/, summary.json)"
        )
