"""From settings to a registered version: train, stage, register.

Example::

    registry = Registry(settings.paths.model_store, open_database(settings))
    outcome = train_and_register(settings.training_scope(), registry)
    outcome.bundle.version                    # "v1"
    outcome.metrics["serving"]["accuracy"]    # test accuracy of model.onnx

:func:`training.train.train_model` stops before export (tests, benchmarks);
:func:`training.staging.stage_model` writes the bundle files without registering them,
which is what retraining needs to gate a challenger first; :func:`register_staged`
registers them.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import trainsmart
from training.data import Dataset
from training.settings import TrainingScope
from training.staging import Staged, stage_model, write_staged_report
from training.tracking import training_run
from training.train import Extra, TrainedModel, train_model
from trainsmart.registry.bundle import Bundle, Lineage
from trainsmart.registry.store import Registry


@dataclass
class TrainOutcome:
    """What :func:`train_and_register` produced."""

    bundle: Bundle
    metrics: dict[str, dict[str, float]]
    model: Any
    """The trained torch or Keras model (``trained.framework`` says which)."""
    trained: TrainedModel
    serving_variant: str


def code_version() -> str:
    """``trainsmart <version> git <short sha>`` ('unknown' outside a git checkout)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"trainsmart {trainsmart.__version__} git {sha or 'unknown'}"


def register_staged(
    settings: TrainingScope,
    registry: Registry,
    staged: Staged,
    *,
    parent_version: str | None = None,
    trigger: str = "manual",
    job_id: int | None = None,
    tuning: dict[str, Any] | None = None,
    ensemble: dict[str, Any] | None = None,
    tracking: dict[str, str] | None = None,
) -> Bundle:
    """Register the bundle files written by :func:`training.staging.stage_model`
    (``ensemble``: the lineage's record of a k-fold ensemble, training.ensemble)."""
    trained = staged.trained
    lineage = Lineage(
        dataset_fingerprint=trained.dataset.fingerprint(),
        parent_version=parent_version,
        hyperparameters=settings.training.model_dump(mode="json", exclude={"tracking"}),
        code_version=code_version(),
        trigger=trigger,
        job_id=job_id,
        rows=trained.rows,
        framework=trained.framework,
        serving_variant=staged.serving_variant,
        tuning=tuning or {},
        ensemble=ensemble or {},
        tracking=tracking or {},  # the experiment-tracking run (training.tracking)
    )
    version = next_version(registry.versions(settings.model_name))
    stale = staged.report_version != version
    if tuning and staged.tuning is None:
        staged.tuning, stale = dict(tuning), True
    if stale:  # the report names the wrong version or lacks the tuning summary
        write_staged_report(staged, settings.model_name, version, figures=False)
    return registry.register(settings.model_name, staged.path, lineage)


def next_version(existing: list[str]) -> str:
    """The version :meth:`Registry.register` gives next, after ``existing`` (oldest first).

    The report names it before registration; a registration of the same model by another
    process in between would leave the report one version behind.
    """
    return f"v{int(existing[-1][1:]) + 1 if existing else 1}"


def train_and_register(
    settings: TrainingScope,
    registry: Registry,
    *,
    dataset: Dataset | None = None,
    extra: Extra | None = None,
    parent_version: str | None = None,
    trigger: str = "manual",
    job_id: int | None = None,
    reference_frame: pd.DataFrame | None = None,
    progress: bool = True,
    extra_metrics: dict[str, dict[str, float]] | None = None,
    tuning: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Train, export, check parity, quantize, evaluate and register a new version.

    The new version is not promoted; that is the caller's decision. ``extra_metrics``
    (e.g. ``{"cv": ...}`` from :mod:`training.cv`) is stored in the bundle's metrics.json.
    """
    run = training_run(settings, trigger=trigger, parent_version=parent_version, tuning=tuning)
    with run, tempfile.TemporaryDirectory(prefix="trainsmart-staging-") as tmp:
        trained = train_model(
            settings, dataset=dataset, extra=extra, progress=progress, on_epoch=run.epoch
        )
        staged = stage_model(
            settings,
            trained,
            Path(tmp),
            reference_frame=reference_frame,
            extra_metrics=extra_metrics,
        )
        run.staged(staged)
        bundle = register_staged(
            settings,
            registry,
            staged,
            parent_version=parent_version,
            trigger=trigger,
            job_id=job_id,
            tuning=tuning,
            tracking=run.link(),
        )
        run.registered(bundle)
    return TrainOutcome(bundle, staged.metrics, trained.model, trained, staged.serving_variant)
