"""``training.tracking``: experiment tracking in MLflow and TensorBoard (both off by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from trainsmart.settings import Section


class TrackingSettings(Section):
    """Where training reports its runs, as ``training.tracking`` (see
    :mod:`training.tracking`). Unset, nothing is tracked and nothing extra is imported.

    Every `trainsmart train`, `trainsmart tune` (one nested run per trial) and retrain job
    is one run: its settings as parameters, the loss and score of every epoch, the test
    metrics of every variant, the report and the served model.onnx as artifacts, and the
    registered version linked both ways (the run id in the version's lineage, the version
    in the run's ``trainsmart.version`` tag). A tracking server that cannot be reached
    costs one warning line: training goes on without it.

    Example (YAML)::

        training:
          tracking:
            mlflow_uri: http://127.0.0.1:5000
            tensorboard_dir: runs/tensorboard
    """

    mlflow_uri: str | None = None
    """MLflow tracking URI (``http://host:5000`` for an ``mlflow server``, or a local
    ``sqlite:///mlflow.db``); None: no MLflow. Needs the 'mlflow' extra:
    pip install -e '.[mlflow]'."""
    experiment: str | None = None
    """MLflow experiment the runs go to (created when missing); None: the model name."""
    tensorboard_dir: Path | None = None
    """Folder of TensorBoard event files, one sub-folder per run
    (``<dir>/<model>/<time>-<kind>``; relative to the working directory); None: none
    written. Needs the 'tensorboard' extra. View with ``tensorboard --logdir <dir>``."""
    request_timeout_s: Annotated[float, Field(gt=0.0)] = 5.0
    """Seconds an MLflow request may take (MLFLOW_HTTP_REQUEST_TIMEOUT, unless set in the
    environment): an unreachable server costs at most this, times the tries, once."""
    request_retries: Annotated[int, Field(ge=0)] = 0
    """Retries of a failed MLflow request (MLFLOW_HTTP_REQUEST_MAX_RETRIES, unless set in
    the environment; each retry also logs a urllib3 warning). After a request fails for
    good, MLflow tracking is off for the rest of the run and one warning says so."""
