"""The training stage's settings: the ``data:`` and ``training:`` sections of
``trainsmart.yaml``, and the scope that training code receives.

::

    data:               DataSettings         (data.py)
    training:           TrainingSettings     (model.py)
      retrain:          RetrainSettings      (retrain.py)
      tuning:           TuningSettings       (tuning.py)
      compression:      CompressionSettings  (compression.py)
      tracking:         TrackingSettings     (tracking.py)

    TrainingScope       the shared keys + data + training + trigger_rows (scope.py)

``apps/settings.py`` composes these sections into the whole file's schema and hands
training a :class:`TrainingScope` (``settings.training_scope()``).
"""

from training.settings.compression import CalibrationMethod, CompressionSettings
from training.settings.data import DataSettings, FeatureConfig
from training.settings.model import TrainingSettings
from training.settings.retrain import RetrainSettings
from training.settings.scope import TrainingScope
from training.settings.tracking import TrackingSettings
from training.settings.tuning import TUNABLE_EXTRA, ParamSpec, TuningSettings

__all__ = [
    "TUNABLE_EXTRA",
    "CalibrationMethod",
    "CompressionSettings",
    "DataSettings",
    "FeatureConfig",
    "ParamSpec",
    "RetrainSettings",
    "TrackingSettings",
    "TrainingScope",
    "TrainingSettings",
    "TuningSettings",
]
