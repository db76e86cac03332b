"""MLflow runs through ``MlflowClient`` (no fluent API: no active-run state in the process).

Imported only when ``training.tracking.mlflow_uri`` is set (mlflow takes ~2 s to import).
Its calls may raise; training holds it inside :class:`~training.tracking.base.Guarded`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from training.settings.tracking import TrackingSettings
from training.tracking.base import RunStatus, Tracker
from trainsmart.errors import redact

BATCH = 100
"""MLflow takes at most 100 params or tags (and 1000 metrics) per log_batch."""
PARAM_CHARS = 6000
TAG_CHARS = 8000
KEY_CHARS = 250
_UNSAFE = re.compile(r"[^\w\-. /:]")


def _ms(seconds: float | None) -> int:
    return int((time.time() if seconds is None else seconds) * 1000)


def request_limits(settings: TrackingSettings) -> None:
    """Short MLflow HTTP timeouts and few retries (MLflow's defaults: 120 s and 7 retries
    with backoff, minutes per call against a server that is down), unless the environment
    sets them. MLflow reads these variables at every request; they have no other knob."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", f"{settings.request_timeout_s:g}")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.request_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, created when missing (another process may create it
    at the same time: then its id)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


class MlflowTracker(Tracker):
    """One MLflow run.

    Example::

        run = MlflowTracker.start(settings.training.tracking, "fair", "train", {})
        run.log_metrics({"val_loss": 0.41}, step=3)
        run.link()      # {"mlflow_run_id": "...", "mlflow_experiment_id": "1", ...}
    """

    def __init__(self, client: MlflowClient, uri: str, experiment: str, run_id: str) -> None:
        self.client = client
        self.uri = uri
        self.experiment = experiment
        self.run_id = run_id

    @classmethod
    def start(
        cls,
        settings: TrackingSettings,
        experiment: str,
        name: str,
        tags: Mapping[str, str],
    ) -> MlflowTracker:
        """Open a run named ``name`` in ``experiment`` (created when missing)."""
        if settings.mlflow_uri is None:
            raise ValueError("training.tracking.mlflow_uri is not set")
        request_limits(settings)
        client = MlflowClient(tracking_uri=settings.mlflow_uri)
        exp = experiment_id(client, experiment)
        run = client.create_run(exp, run_name=name, tags=_tags(tags))
        return cls(client, settings.mlflow_uri, exp, run.info.run_id)

    def child(
        self, name: str, tags: Mapping[str, str] | None = None, *, start_time: float | None = None
    ) -> Tracker:
        run = self.client.create_run(
            self.experiment,
            start_time=_ms(start_time),
            run_name=name,
            tags=_tags({**(tags or {}), MLFLOW_PARENT_RUN_ID: self.run_id}),
        )
        return MlflowTracker(self.client, self.uri, self.experiment, run.info.run_id)

    def log_params(self, params: Mapping[str, str]) -> None:
        named = {safe_key(k): str(v)[:PARAM_CHARS] for k, v in params.items()}
        items = [Param(k, v) for k, v in named.items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + BATCH])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        items = [RunTag(k, v) for k, v in _tags(tags).items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, tags=items[i : i + BATCH])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        now = _ms(None)
        named = {safe_key(k): float(v) for k, v in metrics.items()}
        items = [Metric(k, v, now, step or 0) for k, v in named.items()]
        for i in range(0, len(items), 10 * BATCH):
            self.client.log_batch(self.run_id, metrics=items[i : i + 10 * BATCH])

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        elif path.is_file():
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def end(self, status: RunStatus = "FINISHED", *, end_time: float | None = None) -> None:
        self.client.set_terminated(self.run_id, status, end_time=_ms(end_time))

    def link(self) -> dict[str, str]:
        return {
            "mlflow_run_id": self.run_id,
            "mlflow_experiment_id": self.experiment,
            "mlflow_uri": redact(self.uri),
        }


def safe_key(key: str) -> str:
    """``key`` with the characters MLflow refuses in a name (anything but letters,
    digits, ``_-. /:``; a feature named 'age (years)') replaced by ``_``."""
    return _UNSAFE.sub("_", key)[:KEY_CHARS]


def _tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {safe_key(k): str(v)[:TAG_CHARS] for k, v in tags.items()}
