"""Errors of the drift monitor (part of trainsmart's one error tree).

TrainsmartError (500)
 +-- MonitoringError (500)      a window or reference the monitor cannot work with
      +-- KubernetesError (500) the Kubernetes API refused a retrain Job's request
           +-- KubernetesUnavailable   no answer (connection, timeout, 5xx): the job stays
           |                           queued and the next check tries again
           +-- KubernetesForbidden     401/403: the monitor's service account lacks RBAC
           +-- KubernetesConflict      409: a Job of that name exists already
           +-- KubernetesNotFound      404: no such Job (deleted, or past its TTL)
           +-- KubernetesRejected      400/422: the rendered Job itself is invalid
"""

from __future__ import annotations

from trainsmart.errors import TrainsmartError


class MonitoringError(TrainsmartError):
    """The monitor cannot compare a window with the reference as asked."""


class KubernetesError(MonitoringError):
    """A request to the Kubernetes API failed; ``status`` is its HTTP status (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KubernetesUnavailable(KubernetesError):
    """The API server did not answer, or answered 5xx."""


class KubernetesForbidden(KubernetesError):
    """401/403: the monitor's token is missing, wrong, or not allowed to manage Jobs."""

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        super().__init__(
            f"the Kubernetes API answered {status} to {method} {path} ({detail}); check RBAC: "
            "the monitor's service account needs create, get, list, watch and delete on "
            "batch/jobs in the Jobs' namespace (deploy/kubernetes/monitor-rbac.yaml has the "
            "Role and RoleBinding), and monitoring.kubernetes.token_path its token",
            status,
        )


class KubernetesConflict(KubernetesError):
    """409: the Job exists already (a monitor restarted between creating and recording it)."""


class KubernetesNotFound(KubernetesError):
    """404: no such Job."""


class KubernetesRejected(KubernetesError):
    """400/422: the API server rejected the Job spec (fix the monitoring.kubernetes settings)."""
