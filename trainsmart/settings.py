"""The one settings object: a YAML file plus ``TRAINSMART_`` environment overrides.

Precedence, highest first: keyword arguments, environment variables
(``TRAINSMART_SERVING__PORT=3001``; ``__`` separates nested sections), the YAML
file (``--config``, else ``$TRAINSMART_CONFIG``, else ``./trainsmart.yaml`` when
present), built-in defaults. Every default runs with no external server: SQLite
state, in-process cache and a local model store under ``data_dir``.

Example::

    settings = load_settings("trainsmart.yaml")
    settings.serving.port        # 3000
    settings.paths.state_db      # .../.trainsmart/trainsmart.db
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from monitoring.settings import MonitoringSettings
from serving.settings import ServingSettings
from training.settings import DataSettings, TrainingSettings

CONFIG_ENV = "TRAINSMART_CONFIG"
DEFAULT_CONFIG_FILE = "trainsmart.yaml"


@dataclass(frozen=True)
class Paths:
    """Where each piece of local state lives under ``data_dir`` (the model store may be a
    shared directory elsewhere: ``Settings.model_store``)."""

    root: Path
    shared_store: Path | None = None

    @property
    def model_store(self) -> Path:
        """BentoML model store holding the immutable bundles."""
        return self.shared_store or self.root / "models"

    @property
    def state_db(self) -> Path:
        """The SQLite state database (unless ``database_url`` names another): input log,
        feedback, production pointers, audit log, jobs."""
        return self.root / "trainsmart.db"

    @property
    def jobs(self) -> Path:
        """One folder per retrain job with its log."""
        return self.root / "jobs"


class Settings(BaseSettings):
    """All of trainsmart's settings; sections belong to the package that reads them."""

    model_config = SettingsConfigDict(
        env_prefix="TRAINSMART_",
        env_nested_delimiter="__",
        extra="forbid",
        hide_input_in_errors=True,  # a mistyped database_url must not print its password
    )
    yaml_file: ClassVar[Path | None] = None

    data_dir: Path = Path(".trainsmart")
    """Project data directory: model store, state database, job logs."""
    database_url: SecretStr | None = None
    """Where the shared state lives (input log, feedback, production pointers, jobs, audit
    log): None, the SQLite file ``data_dir/trainsmart.db``; or a PostgreSQL URL,
    ``postgresql://user:password@host:5432/trainsmart`` (needs ``pip install
    'trainsmart[postgres]'``), for several replicas. Set it with TRAINSMART_DATABASE_URL
    rather than in a committed file: it holds a password."""
    database_pool_size: Annotated[int, Field(gt=0)] = 10
    """Connections each process keeps to a PostgreSQL database_url (at most)."""
    model_store: Path | None = None
    """The BentoML model store (the registered bundles): None, ``data_dir/models``; a
    directory every replica and retrain job mounts (NFS, a ReadWriteMany volume) when
    there are several."""
    model_name: str = "fair-affairs"
    """Name under which models are registered and served."""
    data: DataSettings = DataSettings()
    """Training data: dataset, features, target, splits, reference sample (training/settings.py)."""
    training: TrainingSettings = TrainingSettings()
    """Model, training loop, export and retraining (training/settings.py)."""
    serving: ServingSettings = ServingSettings()
    """The prediction service (serving/settings.py)."""
    monitoring: MonitoringSettings = MonitoringSettings()
    """Drift windows and the retrain policy (monitoring/settings.py)."""

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("model_store")
    @classmethod
    def _absolute_store(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None or not url.get_secret_value().strip():
            return None
        from trainsmart.state.db import url_scheme

        scheme = url_scheme(url.get_secret_value())
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                f"database_url must start with sqlite:/// or postgresql://, not {scheme}://"
            )
        return url

    @field_validator("model_name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        from trainsmart.registry.names import check_name

        return check_name(value, "model_name")

    @property
    def paths(self) -> Paths:
        return Paths(self.data_dir, self.model_store)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=cls.yaml_file))
        return tuple(sources)


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The settings file in use: the argument, ``$TRAINSMART_CONFIG`` or ``./trainsmart.yaml``."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if chosen:
        resolved = Path(chosen).expanduser().resolve()
        if not resolved.is_file():
            from trainsmart.errors import ConfigError

            raise ConfigError(
                f"settings file {resolved} does not exist; pass an existing YAML file"
            )
        return resolved
    default = Path(DEFAULT_CONFIG_FILE)
    return default.resolve() if default.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from the YAML file, the environment and ``overrides``."""
    config = resolve_config_path(path)
    cls = type("Settings", (Settings,), {"yaml_file": config})
    return cls(**overrides)


def child_environment(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus what makes a child process load the same settings."""
    env = dict(os.environ)
    config = type(settings).yaml_file
    if config is not None:
        env[CONFIG_ENV] = str(config)
    env["TRAINSMART_DATA_DIR"] = str(settings.data_dir)
    env["TRAINSMART_MODEL_NAME"] = settings.model_name
    if settings.database_url is not None:
        env["TRAINSMART_DATABASE_URL"] = settings.database_url.get_secret_value()
    if settings.model_store is not None:
        env["TRAINSMART_MODEL_STORE"] = str(settings.model_store)
    env.update(extra or {})
    return env
