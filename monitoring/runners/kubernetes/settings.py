"""Settings of retrain jobs run as Kubernetes Jobs (``monitoring.kubernetes``).

Used when ``monitoring.job_runner: kubernetes``: the monitor then creates one
``batch/v1`` Job per retrain job (``render.py`` beside this file) through the
Kubernetes API (``api.py``). The defaults fit a monitor that runs
in the cluster with the manifests of ``deploy/kubernetes/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from trainsmart.settings import Section

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class Resources(Section):
    """CPU and memory of the retrain container, as Kubernetes quantities."""

    cpu: str | None = None
    """CPU cores: ``"2"``, ``"500m"``; None leaves it out."""
    memory: str | None = None
    """Memory: ``"4Gi"``, ``"512Mi"``; None leaves it out."""

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None and not _QUANTITY.match(value):
            raise ValueError(
                f"'{value}' is not a Kubernetes quantity; write e.g. '2', '500m', '4Gi'"
            )
        return value

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}


class SecretKey(Section):
    """One key of a Kubernetes Secret (an env var's ``valueFrom.secretKeyRef``)."""

    name: str
    """The Secret's name."""
    key: str
    """The key in the Secret."""


class KubernetesJobSettings(Section):
    """How the monitor runs retrain jobs as Kubernetes Jobs, and reaches the API."""

    namespace: str | None = None
    """Namespace of the Jobs; None: the monitor's own (``namespace_path``), else
    ``default``."""
    image: str = "trainsmart:0.1.0"
    """Image of the retrain container: one with trainsmart installed and the ``trainsmart``
    command on its PATH (the service image of deploy/kubernetes/ works)."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    """When the kubelet pulls the image."""
    service_account: str | None = None
    """Service account of the retrain pod; None: the namespace's default. The pod never
    gets an API token mounted: the retrain command does not call the Kubernetes API."""
    requests: Resources = Resources(cpu="1", memory="2Gi")
    """Resources the scheduler reserves for the retrain container."""
    limits: Resources = Resources(cpu="2", memory="4Gi")
    """Most the retrain container may use (past the memory limit it is OOM-killed)."""
    env: dict[str, str] = {}
    """Extra plain environment variables of the retrain container (no secrets here: the
    Job spec is readable by anyone who may read Jobs)."""
    database_url_secret: SecretKey | None = SecretKey(name="trainsmart-secrets", key="database-url")
    """The Secret key holding the database URL, passed as TRAINSMART_DATABASE_URL; the URL
    itself never appears in the Job spec. None: the pod gets no database URL."""
    env_from_secrets: list[str] = []
    """Secrets whose every key becomes an environment variable of the container (keys
    named like TRAINSMART_TRAINING__...)."""
    config_map: str | None = "trainsmart-config"
    """ConfigMap holding ``trainsmart.yaml``, mounted at ``/etc/trainsmart`` and read
    through TRAINSMART_CONFIG, so the job trains with the monitor's settings. None: none."""
    model_store_claim: str | None = "trainsmart-models"
    """PersistentVolumeClaim (ReadWriteMany) of the model store shared with the service and
    monitor; None: no volume (the pod then uses ``model_store`` as it is)."""
    model_store_mount: Path = Path("/models")
    """Where the claim is mounted; TRAINSMART_MODEL_STORE points there."""
    data_dir: Path = Path("/data")
    """TRAINSMART_DATA_DIR of the pod: a scratch directory (an emptyDir)."""
    labels: dict[str, str] = {}
    """Extra labels of the Job and its pod."""
    backoff_limit: Annotated[int, Field(ge=0)] = 0
    """Pod retries by Kubernetes; 0: none, the monitor's policy decides whether to retrain."""
    active_deadline_seconds: Annotated[int, Field(gt=0)] | None = None
    """Kubernetes kills the Job after this many seconds; None: ``job_timeout_s``."""
    ttl_seconds_after_finished: Annotated[int, Field(ge=0)] | None = 86400
    """Kubernetes deletes a finished Job (and its pod and log) after this many seconds;
    None: never. The outcome stays in the jobs table either way."""
    api_server: str = "https://kubernetes.default.svc"
    """URL of the Kubernetes API server (the in-cluster address by default)."""
    token_path: Path = SERVICE_ACCOUNT_DIR / "token"
    """Bearer token of the monitor's service account, read again for every request (the
    kubelet rotates it)."""
    ca_path: Path = SERVICE_ACCOUNT_DIR / "ca.crt"
    """CA bundle that signed the API server's certificate; when the file does not exist
    the system's CAs are used."""
    namespace_path: Path = SERVICE_ACCOUNT_DIR / "namespace"
    """File naming the monitor's namespace (when ``namespace`` is None)."""
    request_timeout_s: Annotated[float, Field(gt=0.0)] = 10.0
    """Timeout of each API request; past it the call counts as the API being down."""

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_LABEL.match(value):
            raise ValueError(
                f"'{value}' is not a Kubernetes namespace name: 1-63 lowercase letters, "
                "digits or '-', starting and ending with a letter or digit"
            )
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not _ENV_NAME.match(name):
                raise ValueError(f"'{name}' is not a valid environment variable name")
        return env

    @field_validator("api_server")
    @classmethod
    def _url(cls, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"api_server '{url}' must be an https:// (or http://) URL")
        return url.rstrip("/")
