"""The whole ``trainsmart.yaml``: the shared keys plus every stage's section.

Only entry points hold this object. They hand each stage its own scope:
``settings.training_scope()`` (shared keys, ``data`` and ``training``),
``settings.serving_scope()``, ``settings.monitoring_scope()``.

Example::

    settings = load_settings("trainsmart.yaml")
    settings.serving.port        # 3000
    settings.paths.state_db      # .../.trainsmart/trainsmart.db

``settings_schema()`` is the file's JSON Schema, for editors.
"""

from __future__ import annotations

import os
from typing import Any

from monitoring.settings import MonitoringScope, MonitoringSettings, RetrainLimits
from serving.settings import ServingScope, ServingSettings
from training.settings import DataSettings, TrainingScope, TrainingSettings
from trainsmart.settings import CoreSettings, load


class Settings(CoreSettings):
    """All of trainsmart's settings; each section belongs to the stage that reads it."""

    data: DataSettings = DataSettings()
    """Training data: dataset, features, target, splits, reference sample (training/settings/)."""
    training: TrainingSettings = TrainingSettings()
    """Model, training loop, export and retraining (training/settings/)."""
    serving: ServingSettings = ServingSettings()
    """The prediction service (serving/settings.py)."""
    monitoring: MonitoringSettings = MonitoringSettings()
    """Drift windows and the retrain policy (monitoring/settings.py)."""

    def training_scope(self) -> TrainingScope:
        """What training reads: the shared keys, ``data`` and ``training``."""
        rows = self.monitoring.window_rows * self.monitoring.consecutive_windows
        scope: TrainingScope = self.scope(
            TrainingScope, data=self.data, training=self.training, trigger_rows=rows
        )
        return scope

    def serving_scope(self) -> ServingScope:
        """What the service reads: the shared keys and ``serving``."""
        scope: ServingScope = self.scope(ServingScope, serving=self.serving)
        return scope

    def monitoring_scope(self) -> MonitoringScope:
        """What the monitor reads: the shared keys, ``monitoring``, and the retrain limits
        its gate shares with training (``training.retrain``)."""
        retrain = self.training.retrain
        limits = RetrainLimits(
            min_labelled_rows=retrain.min_labelled_rows,
            recent_rows=retrain.recent_rows,
            shadow_rows=retrain.shadow_rows,
        )
        scope: MonitoringScope = self.scope(
            MonitoringScope, monitoring=self.monitoring, retrain=limits
        )
        return scope


SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def settings_schema() -> dict[str, Any]:
    """The JSON Schema of ``trainsmart.yaml`` (``trainsmart settings --schema``): every key
    with its type, default and description (the docstring under its field), unknown keys
    refused (``additionalProperties: false``); secrets are strings."""
    schema = Settings.model_json_schema()
    return {"$schema": SCHEMA_DIALECT, **schema, "title": "trainsmart.yaml"}


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """The whole file's settings from the YAML file, secrets, the environment and
    ``overrides``; a ``ConfigError`` naming each key it does not understand."""
    return load(Settings, path, **overrides)
