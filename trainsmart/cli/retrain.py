"""``trainsmart retrain``: one retrain job, reported in the jobs table."""

from __future__ import annotations

import os
import sys
import traceback

import click

from trainsmart.cli.context import AppContext
from trainsmart.state import JobStatus


def run_retrain_command(app: AppContext, job_id: int | None) -> None:
    """Run a retrain; the job ends succeeded (promoted), rejected or failed."""
    from training.retrain import run_retrain

    settings, jobs = app.settings, app.jobs
    if job_id is None:
        job = jobs.create(settings.model_name, "manual: trainsmart retrain")
        if job is None:
            raise click.ClickException(
                f"a retrain job for {settings.model_name} is already queued or running; "
                "see 'trainsmart jobs'"
            )
        job_id = job.id
        jobs.mark_running(job_id, os.getpid(), "-")
    click.echo(f"retrain job {job_id} for {settings.model_name}")
    try:
        outcome = run_retrain(
            settings, app.registry, app.input_log, job_id=job_id, progress=sys.stderr.isatty()
        )
    except Exception as exc:
        jobs.finish(job_id, JobStatus.FAILED, {"error": f"{type(exc).__name__}: {exc}"})
        traceback.print_exc()
        raise click.ClickException(f"retrain job {job_id} failed: {exc}") from exc
    result = outcome.to_dict()
    status = JobStatus.SUCCEEDED if outcome.status == "promoted" else JobStatus.REJECTED
    jobs.finish(job_id, status, result)
    click.echo(f"retrain job {job_id}: {status.value}: {outcome.reason}")
