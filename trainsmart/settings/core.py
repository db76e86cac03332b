"""What every stage shares: where the state lives and which model it is about.

:class:`CoreSettings` holds the top-level keys of ``trainsmart.yaml`` (``data_dir``,
``database_url``, ``model_store``, ``model_name``, ...). Each stage adds its own section
(``serving:``, ``training:`` and ``data:``, ``monitoring:``) in a schema that lives with
the stage; ``apps/settings.py`` composes them into the whole file's schema. A stage's code
receives its own scope (these keys plus its section), never the whole file.

:class:`Section` is the base of every section and of every model nested in one: an
unknown key is an error at every level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator

from trainsmart.names import check_name
from trainsmart.settings.urls import url_scheme


class Section(BaseModel):
    """A block of settings: unknown keys are refused (a typo never falls back to a default).

    The docstring under each field is its description, in ``trainsmart settings --schema``
    and in editors that read that schema.
    """

    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,  # a mistyped database_url must not print its password
        use_attribute_docstrings=True,
    )


@dataclass(frozen=True)
class Paths:
    """Where each piece of local state lives under ``data_dir`` (the model store may be a
    shared directory elsewhere: ``CoreSettings.model_store``)."""

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

    @property
    def monitoring(self) -> Path:
        """The monitor's drift journal and kept Evidently reports."""
        return self.root / "monitoring"

    @property
    def gpu(self) -> Path:
        """This machine's GPU measurements, one per version (``trainsmart gpu calibrate``;
        serving/gpu_profile.py): they belong to the GPU, not to the shared model store."""
        return self.root / "gpu"


class CoreSettings(Section):
    """The top-level keys of ``trainsmart.yaml``: state, model store, model name."""

    model_config = ConfigDict(validate_default=True)  # a default data_dir is made absolute too

    data_dir: Path = Path(".trainsmart")
    """Project data directory: model store, state database, job logs."""
    database_url: SecretStr | None = None
    """Where the shared state lives (input log, feedback, production pointers, jobs, audit
    log): None, the SQLite file ``data_dir/trainsmart.db``; or a PostgreSQL URL,
    ``postgresql://user:password@host:5432/trainsmart`` (needs ``pip install
    'trainsmart[postgres]'``), for several replicas. Set it with TRAINSMART_DATABASE_URL
    or a file in TRAINSMART_SECRETS_DIR rather than in a committed file: it holds a
    password."""
    database_pool_size: Annotated[int, Field(gt=0)] = 10
    """Connections each process keeps to a PostgreSQL database_url (at most)."""
    model_store: Path | None = None
    """The BentoML model store (the registered bundles): None, ``data_dir/models``; a
    directory every replica and retrain job mounts (NFS, a ReadWriteMany volume) when
    there are several."""
    model_name: str = "fair-affairs"
    """Name under which models are registered and served."""

    _config_file: Path | None = PrivateAttr(default=None)

    @field_validator("data_dir", "model_store", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            # Path("") is the working directory: an empty variable would move the state there
            raise ValueError("is empty; name a folder, or leave the setting out for the default")
        return value

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
        scheme = url_scheme(url.get_secret_value())
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                f"database_url must start with sqlite:/// or postgresql://, not {scheme}://"
            )
        return url

    @field_validator("model_name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value, "model_name")

    @property
    def paths(self) -> Paths:
        return Paths(self.data_dir, self.model_store)

    @property
    def config_file(self) -> Path | None:
        """The YAML file these settings were read from (None: defaults and environment)."""
        return self._config_file

    def core(self) -> CoreSettings:
        """Only the shared keys (what the foundation's own code needs)."""
        return self.scope(CoreSettings)

    def scope(self, cls: type[Any], **sections: Any) -> Any:
        """These shared keys plus ``sections`` as an instance of ``cls`` (a stage's scope);
        nothing is validated again."""
        fields = {name: getattr(self, name) for name in CoreSettings.model_fields}
        made = cls.model_construct(**fields, **sections)
        made._config_file = self._config_file
        return made
