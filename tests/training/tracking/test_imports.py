"""Tracking costs nothing unless configured: mlflow and tensorboard are imported only when
``training.tracking`` names them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from training.settings import TrainingScope
from training.tracking import NoTracker, open_tracker


def test_training_imports_neither_mlflow_nor_tensorboard() -> None:
    code = (
        "import sys, training.pipeline, training.retrain, training.tuning, training.tracking; "
        "from apps.settings import Settings; "
        "from training.tracking import training_run; "
        "run = training_run(Settings().training_scope()); run.link(); "
        "loaded = [m for m in ('mlflow', 'tensorboard') if m in sys.modules]; "
        "assert not loaded, f'{loaded} imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path.cwd())


def test_nothing_configured_is_the_no_op_tracker() -> None:
    assert isinstance(open_tracker(TrainingScope(), "train", {}), NoTracker)
