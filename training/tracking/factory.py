"""Open the run ``training.tracking`` asks for: MLflow, TensorBoard, both, or none."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import trainsmart
from training.settings import TrainingScope
from training.settings.tracking import TrackingSettings
from training.tracking.base import Alarm, Composite, Guarded, NoTracker, Tracker
from trainsmart.errors import redact

logger = logging.getLogger("training.tracking")

MLFLOW_EXTRA = "pip install -e '.[mlflow]'"
TENSORBOARD_EXTRA = "pip install -e '.[tensorboard]'"


def mlflow_warning(uri: str) -> Alarm:
    """The one warning of an MLflow run tree whose server fails."""

    def describe(exc: BaseException) -> str:
        if isinstance(exc, ImportError):
            fix = f"{MLFLOW_EXTRA}, or unset training.tracking.mlflow_uri"
        else:
            fix = (
                "start the server (mlflow server --host 127.0.0.1 --port 5000), or fix or "
                "unset training.tracking.mlflow_uri"
            )
        return (
            f"experiment tracking: MLflow at {redact(uri)} failed ({short_reason(exc)}); "
            f"training goes on without it: {fix}"
        )

    return Alarm(logger, describe)


SHORT_REASONS = (
    ("Connection refused", "connection refused"),
    ("timed out", "no answer in time"),
    ("Name or service not known", "unknown host"),
    ("Temporary failure in name resolution", "unknown host"),
)


def short_reason(exc: BaseException) -> str:
    """What went wrong in a few words (MLflow's messages quote the whole urllib3 chain)."""
    text = " ".join(str(exc).split())
    for needle, reason in SHORT_REASONS:
        if needle in text:
            return reason
    return f"{type(exc).__name__}: {redact(text)[:200]}"


def tensorboard_warning(folder: str) -> Alarm:
    """The one warning of a TensorBoard run tree that cannot write its event files."""

    def describe(exc: BaseException) -> str:
        fix = TENSORBOARD_EXTRA if isinstance(exc, ImportError) else "check that it is writable"
        return (
            f"experiment tracking: TensorBoard events in {folder} failed, training goes on "
            f"without them ({type(exc).__name__}: {exc}; {fix}, or unset "
            "training.tracking.tensorboard_dir)"
        )

    return Alarm(logger, describe)


def open_tracker(settings: TrainingScope, kind: str, tags: Mapping[str, str]) -> Tracker:
    """A new run named ``kind`` ('train', 'tune fair', 'retrain job 7') in every tracker
    ``settings.training.tracking`` configures (:class:`NoTracker` when none). It never
    raises: a tracker that cannot start warns once and does nothing."""
    cfg = settings.training.tracking
    trackers: list[Tracker] = []
    if cfg.mlflow_uri:
        experiment = cfg.experiment or settings.model_name
        trackers.append(
            Guarded.open(
                lambda: _mlflow(cfg, experiment, kind, tags), mlflow_warning(cfg.mlflow_uri)
            )
        )
    if cfg.tensorboard_dir is not None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = cfg.tensorboard_dir / settings.model_name / f"{stamp}-{kind.replace(' ', '-')}"
        trackers.append(
            Guarded.open(lambda: _tensorboard(folder), tensorboard_warning(str(folder)))
        )
    if not trackers:
        return NoTracker()
    return trackers[0] if len(trackers) == 1 else Composite(trackers)


def base_tags(settings: TrainingScope, kind: str) -> dict[str, str]:
    """Tags of every run: the model, the kind of run, the framework, trainsmart's version."""
    return {
        "trainsmart.model": settings.model_name,
        "trainsmart.kind": kind,
        "trainsmart.framework": settings.training.framework,
        "trainsmart.code_version": trainsmart.__version__,
    }


def _mlflow(cfg: TrackingSettings, experiment: str, kind: str, tags: Mapping[str, str]) -> Tracker:
    # lazy: mlflow takes ~2 s to import and is an optional extra; only when mlflow_uri is set
    from training.tracking.mlflow_tracker import MlflowTracker

    return MlflowTracker.start(cfg, experiment, kind, tags)


def _tensorboard(folder: Path) -> Tracker:
    # lazy: tensorboard is an optional extra; only when tensorboard_dir is set
    from training.tracking.tensorboard_tracker import TensorBoardTracker

    return TensorBoardTracker(folder)
