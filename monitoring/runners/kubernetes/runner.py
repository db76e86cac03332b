"""Run retrain jobs as Kubernetes Jobs (``monitoring.job_runner: kubernetes``).

Each retrain job becomes one ``batch/v1`` Job (``monitoring/runners/kubernetes/render.py``)
whose pod runs ``trainsmart retrain --job-id <id>`` and records its own outcome in the
shared database, as a child process does with the subprocess runner. The runner marks
the job running when the API accepts the Job, with pid 0 (no local process) and the log
``k8s://<namespace>/<job name>`` (``kubectl logs -n <namespace> job/<job name>``), and
fails it when the Job ends without an outcome, disappears, or runs past
``job_timeout_s`` (then it deletes the Job and its pods).

A monitor that stops leaves its Jobs running; the next monitor adopts a running job whose
log names a Job (:meth:`KubernetesJobRunner.tracks`) and watches it from then on, so the
supervisor never mistakes it for an orphan. Creating a Job that exists already (a monitor
that crashed between creating it and recording it) adopts it too.

What the API answers when it cannot start a job:

- no answer, or 5xx: the job stays queued and the next check tries again;
- 401/403: the same, with an error naming the RBAC the service account needs;
- 400/422 (the rendered Job is invalid): the job is failed, retrying cannot help.

Example::

    runner = KubernetesJobRunner(scope, JobStore(db))
    runner.start(job)           # POST /apis/batch/v1/namespaces/<ns>/jobs
    finished = runner.poll()    # GET each watched Job; failed ones are marked failed
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitoring.errors import (
    KubernetesConflict,
    KubernetesError,
    KubernetesNotFound,
    KubernetesRejected,
)
from monitoring.runners.base import JobRunner
from monitoring.runners.kubernetes.api import KubernetesApi
from monitoring.runners.kubernetes.render import CREATED_ANNOTATION, render_job
from monitoring.settings import MonitoringScope
from trainsmart.errors import ConfigError
from trainsmart.state.jobs import Job, JobStatus, JobStore

log = logging.getLogger(__name__)

NO_PID = 0
"""The pid recorded for a Kubernetes job: no process on the monitor's machine."""
SCHEME = "k8s://"


def job_reference(namespace: str, name: str) -> str:
    """``k8s://<namespace>/<name>``: the jobs table's log column of a Kubernetes job."""
    return f"{SCHEME}{namespace}/{name}"


def parse_reference(log_path: str | None) -> tuple[str, str] | None:
    """(namespace, name) of a ``k8s://`` reference; None for anything else."""
    if not log_path or not log_path.startswith(SCHEME):
        return None
    namespace, _, name = log_path[len(SCHEME) :].partition("/")
    return (namespace, name) if namespace and name else None


@dataclass
class _Watched:
    namespace: str
    name: str
    started: float
    """Wall-clock start (time.time()): an adopted job started under another monitor."""

    @property
    def reference(self) -> str:
        return job_reference(self.namespace, self.name)


class KubernetesJobRunner(JobRunner):
    """Each retrain job is a Kubernetes Job, deleted after ``job_timeout_s``."""

    def __init__(
        self,
        scope: MonitoringScope,
        jobs: JobStore,
        api: KubernetesApi | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if scope.database_url is None:
            raise ConfigError(
                "monitoring.job_runner is 'kubernetes' but database_url is unset: a retrain "
                "pod records its outcome in the shared database, so set "
                "TRAINSMART_DATABASE_URL=postgresql://... for the monitor and put the same "
                "URL in the Secret of monitoring.kubernetes.database_url_secret"
            )
        self.scope = scope
        self.jobs = jobs
        self.api = api or KubernetesApi(scope.monitoring.kubernetes)
        self.namespace = self.api.namespace()
        self.timeout_s = scope.monitoring.job_timeout_s
        self.clock = clock
        self._watched: dict[int, _Watched] = {}
        self._done: list[Job] = []

    def start(self, job: Job) -> None:
        manifest = render_job(self.scope, job, self.namespace)
        name = manifest["metadata"]["name"]
        started = self.clock()
        try:
            self.api.create_job(self.namespace, manifest)
        except KubernetesConflict:
            started = self._adopt_existing(job, manifest)
        except KubernetesRejected as exc:
            self.jobs.finish(job.id, JobStatus.FAILED, {"error": exc.message})
            self._done.append(self.jobs.get(job.id))
            raise
        watched = _Watched(self.namespace, name, started)
        self.jobs.mark_running(job.id, NO_PID, watched.reference)
        self._watched[job.id] = watched
        log.info("retrain job %d started: Kubernetes Job %s", job.id, watched.reference)

    def tracks(self, job_id: int) -> bool:
        """Watched, or a running job whose log names a Kubernetes Job: adopt it (a monitor
        restarted while it ran); the next :meth:`poll` asks the API how it is doing."""
        if job_id in self._watched:
            return True
        job = self.jobs.get(job_id)
        ref = parse_reference(job.log_path)
        if job.status != JobStatus.RUNNING or ref is None:
            return False
        self._watched[job_id] = _Watched(*ref, job.started_at or job.created_at)
        log.info("retrain job %d: watching its Kubernetes Job %s%s/%s", job_id, SCHEME, *ref)
        return True

    def poll(self) -> list[Job]:
        finished, self._done = self._done, []
        for job_id, watched in list(self._watched.items()):
            error = self._check(watched)
            if error is None:
                continue
            if not self.jobs.get(job_id).status.finished:
                log.warning("retrain job %d failed: %s", job_id, error)
            self.jobs.finish(
                job_id, JobStatus.FAILED, {"error": error, "kubernetes_job": watched.reference}
            )
            del self._watched[job_id]
            finished.append(self.jobs.get(job_id))
        return finished

    def stop(self) -> None:
        """Leave the Jobs running (the next monitor adopts them) and close the client."""
        for job_id, watched in self._watched.items():
            log.info(
                "retrain job %d keeps running as %s; the next monitor watches it",
                job_id,
                watched.reference,
            )
        self.api.close()

    # -- helpers -----------------------------------------------------------------------------
    def _check(self, watched: _Watched) -> str | None:
        """Why the watched Job is over without (necessarily) an outcome; None: still running."""
        elapsed = self.clock() - watched.started
        logs = f"see kubectl logs -n {watched.namespace} job/{watched.name}"
        try:
            state = self.api.get_job(watched.namespace, watched.name)
        except KubernetesNotFound:
            return (
                f"its Kubernetes Job {watched.reference} is gone (deleted, or removed after "
                "ttlSecondsAfterFinished) and the job recorded no outcome"
            )
        except KubernetesError as exc:
            if elapsed <= self.timeout_s:
                log.warning("Kubernetes Job %s: %s; the next check asks again", watched.name, exc)
                return None
            return (
                f"running for {elapsed:.0f}s, past job_timeout_s={self.timeout_s:g}, and the "
                f"Kubernetes API could not be asked to delete it ({exc.message}); its "
                "activeDeadlineSeconds stops it in the cluster"
            )
        ended = job_ended(state)
        if ended is not None:
            succeeded, why = ended
            if succeeded:
                return f"the retrain pod exited 0 without an outcome; {logs}"
            return f"the Kubernetes Job failed ({why}) without an outcome; {logs}"
        if elapsed <= self.timeout_s:
            return None
        try:
            self.api.delete_job(watched.namespace, watched.name)
            done = "deleted"
        except KubernetesError as exc:
            done = f"could not be deleted ({exc.message}; activeDeadlineSeconds stops it)"
        return f"{done} after {elapsed:.0f}s (job_timeout_s={self.timeout_s:g}); {logs}"

    def _adopt_existing(self, job: Job, manifest: dict[str, Any]) -> float:
        """Start time of the existing Job of this name if it is ``job``'s; else raise."""
        name = manifest["metadata"]["name"]
        existing = self.api.get_job(self.namespace, name)
        metadata = existing.get("metadata") or {}
        ours = manifest["metadata"]["annotations"][CREATED_ANNOTATION]
        if (metadata.get("annotations") or {}).get(CREATED_ANNOTATION) != ours:
            raise KubernetesConflict(
                f"a Kubernetes Job {self.namespace}/{name} exists but was not created for "
                f"retrain job {job.id} of this database (another database's job with the same "
                f"id?); delete it (kubectl delete job -n {self.namespace} {name}) and the next "
                "check starts the job",
                409,
            )
        log.info("retrain job %d: its Kubernetes Job %s exists already; adopted", job.id, name)
        return created_at(metadata) or self.clock()


def job_ended(state: dict[str, Any]) -> tuple[bool, str] | None:
    """(succeeded, why) once the Job has a true Complete or Failed condition; else None."""
    status = state.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return True, "Complete"
        if condition.get("type") == "Failed":
            reason = condition.get("reason") or "Failed"
            message = condition.get("message")
            return False, f"{reason}: {message}" if message else reason
    return None


def created_at(metadata: dict[str, Any]) -> float | None:
    """``metadata.creationTimestamp`` (RFC 3339) as a Unix time; None when absent."""
    stamp = metadata.get("creationTimestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
