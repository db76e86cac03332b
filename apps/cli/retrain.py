"""``trainsmart retrain``: one retrain job, reported in the jobs table.

Run by hand, the job is created already running in this process with trigger ``manual``
and the user as its actor (``$TRAINSMART_ACTOR`` or the OS user), so the audit log says
who asked. Run by the monitor (``--job-id``), it reports to the job the monitor queued.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from apps.cli.context import AppContext
from trainsmart.state import JobStatus, Trigger
from trainsmart.state.audit import default_actor


def run_retrain_command(app: AppContext, job_id: int | None, reason: str | None = None) -> None:
    """Run a retrain; the job ends succeeded (promoted, or made the shadow candidate),
    rejected or failed."""
    from training.retrain import run_retrain  # lazy: imports torch

    settings, jobs = app.settings, app.jobs
    if job_id is None:
        actor = default_actor()
        job = jobs.create(
            settings.model_name,
            reason or f"manual: trainsmart retrain by {actor}",
            trigger=Trigger.MANUAL,
            actor=actor,
            champion_version=app.registry.production(settings.model_name),
            running_pid=os.getpid(),
            log_path="-",
        )
        if job is None:
            raise click.ClickException(
                f"a retrain job for {settings.model_name} is already queued or running; "
                "see 'trainsmart jobs'"
            )
        job_id = job.id
    click.echo(f"retrain job {job_id} for {settings.model_name}")
    try:
        outcome = run_retrain(
            settings.training_scope(),
            app.registry,
            app.input_log,
            job_id=job_id,
            progress=sys.stderr.isatty(),
        )
    except Exception as exc:
        jobs.finish(job_id, JobStatus.FAILED, {"error": f"{type(exc).__name__}: {exc}"})
        traceback.print_exc()
        raise click.ClickException(f"retrain job {job_id} failed: {exc}") from exc
    status = JobStatus.REJECTED if outcome.status == "rejected" else JobStatus.SUCCEEDED
    jobs.finish(job_id, status, outcome.to_dict())
    click.echo(f"retrain job {job_id}: {status.value}: {outcome.reason}")
