"""What training code receives: the shared keys, its sections and the retrain trigger size."""

from __future__ import annotations

from training.settings.data import DataSettings
from training.settings.fields import PosInt
from training.settings.model import TrainingSettings
from trainsmart.settings import CoreSettings


class TrainingScope(CoreSettings):
    """What training reads: the shared keys, ``data`` and ``training``, and the size of
    the drift windows that trigger a retrain (the default reference of a challenger)."""

    data: DataSettings = DataSettings()
    """Training data: dataset, features, target, splits, reference sample."""
    training: TrainingSettings = TrainingSettings()
    """Model, training loop, export and retraining."""
    trigger_rows: PosInt = 600
    """Rows of the drift windows that trigger a retrain (``monitoring.window_rows`` x
    ``monitoring.consecutive_windows``, copied in by the entry point): a challenger's
    reference sample when ``training.retrain.reference_rows`` is unset."""
