"""A retrain job as a Kubernetes ``batch/v1`` Job, rendered from the settings.

The pod runs ``trainsmart retrain --job-id <id>`` with the monitor's settings file (a
ConfigMap), the shared model store (a ReadWriteMany claim) and the database URL from a
Secret: the URL is never written into the Job, which anyone allowed to read Jobs can
read. ``trainsmart monitor render-job`` prints it; ``deploy/validate.py`` checks it
against the Kubernetes schema.

Example::

    manifest = render_job(scope, job, namespace="ml")
    manifest["metadata"]["name"]      # 'trainsmart-retrain-fair-affairs-42'
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from monitoring.runners.kubernetes.settings import KubernetesJobSettings
from monitoring.settings import MonitoringScope
from trainsmart.state.jobs import Job, JobStatus, Trigger

NAME_PREFIX = "trainsmart-retrain-"
CONFIG_DIR = "/etc/trainsmart"
JOB_ID_LABEL = "trainsmart.dev/job-id"
MODEL_LABEL = "trainsmart.dev/model"
CREATED_ANNOTATION = "trainsmart.dev/job-created-at"
RUN_AS = 1000
"""Non-root user and group of the retrain container (the images of deploy/kubernetes/)."""

_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def job_name(model: str, job_id: int) -> str:
    """``trainsmart-retrain-<model>-<id>``: a DNS-1123 label of at most 63 characters (the
    model part shortened when needed, ``.`` and ``_`` made ``-``)."""
    suffix = f"-{job_id}"
    room = 63 - len(NAME_PREFIX) - len(suffix)
    slug = _NOT_DNS.sub("-", model.lower())[:room].strip("-") or "model"
    return f"{NAME_PREFIX}{slug}{suffix}"


def label_value(value: str) -> str:
    """``value`` as a Kubernetes label value: at most 63 characters, alphanumeric ends."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", value)[:63].strip("._-")


def job_labels(scope: MonitoringScope, job: Job) -> dict[str, str]:
    """Labels of the Job and its pod: app, component, the job id and the model."""
    return {
        **scope.monitoring.kubernetes.labels,
        "app.kubernetes.io/name": "trainsmart",
        "app.kubernetes.io/component": "retrain",
        "app.kubernetes.io/managed-by": "trainsmart-monitor",
        JOB_ID_LABEL: str(job.id),
        MODEL_LABEL: label_value(job.model),
    }


def active_deadline(scope: MonitoringScope) -> int:
    """Seconds Kubernetes lets the Job run: the setting, else ``job_timeout_s``."""
    k8s = scope.monitoring.kubernetes
    return k8s.active_deadline_seconds or math.ceil(scope.monitoring.job_timeout_s)


def example_job(scope: MonitoringScope, reason: str = "example") -> Job:
    """A queued job 1 of ``model_name``, to render without a database."""
    return Job(
        id=1,
        model=scope.model_name,
        status=JobStatus.QUEUED,
        reason=reason,
        created_at=time.time(),
        started_at=None,
        finished_at=None,
        pid=None,
        log_path=None,
        result=None,
        trigger=Trigger.MANUAL,
        actor="example",
    )


def render_job(scope: MonitoringScope, job: Job, namespace: str = "default") -> dict[str, Any]:
    """The ``batch/v1`` Job that runs ``job`` (a plain dict, ready to POST or dump as YAML)."""
    k8s = scope.monitoring.kubernetes
    labels = job_labels(scope, job)
    spec: dict[str, Any] = {
        "backoffLimit": k8s.backoff_limit,
        "activeDeadlineSeconds": active_deadline(scope),
    }
    if k8s.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = k8s.ttl_seconds_after_finished
    spec["template"] = {"metadata": {"labels": dict(labels)}, "spec": _pod_spec(scope, job)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(job.model, job.id),
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                CREATED_ANNOTATION: repr(job.created_at),
                "trainsmart.dev/trigger": job.trigger.value,
                "trainsmart.dev/reason": job.reason[:200],
            },
        },
        "spec": spec,
    }


def _pod_spec(scope: MonitoringScope, job: Job) -> dict[str, Any]:
    k8s = scope.monitoring.kubernetes
    resources = {
        key: values
        for key, values in (("requests", k8s.requests.to_dict()), ("limits", k8s.limits.to_dict()))
        if values
    }
    container: dict[str, Any] = {
        "name": "retrain",
        "image": k8s.image,
        "imagePullPolicy": k8s.image_pull_policy,
        "command": ["trainsmart", "retrain", "--job-id", str(job.id)],
        "env": _env(scope),
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [m for m, _ in _volumes(k8s)],
    }
    if k8s.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": name}} for name in k8s.env_from_secrets]
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,  # no TRAINSMART_SERVICE_HOST & co. in the environment
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [v for _, v in _volumes(k8s)],
    }
    if k8s.service_account:
        pod["serviceAccountName"] = k8s.service_account
    return pod


def _env(scope: MonitoringScope) -> list[dict[str, Any]]:
    k8s = scope.monitoring.kubernetes
    plain = {
        "TRAINSMART_MODEL_NAME": scope.model_name,
        "TRAINSMART_DATA_DIR": str(k8s.data_dir),
        "HOME": "/tmp",
        "PYTHONUNBUFFERED": "1",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    if k8s.model_store_claim is not None:
        plain["TRAINSMART_MODEL_STORE"] = str(k8s.model_store_mount)
    elif scope.model_store is not None:
        plain["TRAINSMART_MODEL_STORE"] = str(scope.model_store)
    if k8s.config_map is not None:
        plain["TRAINSMART_CONFIG"] = f"{CONFIG_DIR}/trainsmart.yaml"
    plain.update(k8s.env)
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain.items()]
    if k8s.database_url_secret is not None:
        ref = k8s.database_url_secret
        env.append(
            {
                "name": "TRAINSMART_DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    return env


def _volumes(k8s: KubernetesJobSettings) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(volumeMount, volume) pairs: scratch /tmp and data dir, the config, the model store."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"name": "tmp", "mountPath": "/tmp"}, {"name": "tmp", "emptyDir": {}}),
        ({"name": "data", "mountPath": str(k8s.data_dir)}, {"name": "data", "emptyDir": {}}),
    ]
    if k8s.config_map is not None:
        pairs.append(
            (
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "config", "configMap": {"name": k8s.config_map}},
            )
        )
    if k8s.model_store_claim is not None:
        pairs.append(
            (
                {"name": "models", "mountPath": str(k8s.model_store_mount)},
                {
                    "name": "models",
                    "persistentVolumeClaim": {"claimName": k8s.model_store_claim},
                },
            )
        )
    return pairs
