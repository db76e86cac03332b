"""Retrain jobs as Kubernetes Jobs: the rendered Job against Kubernetes' schema, and the
runner against a fake API server.

No real Kubernetes API server runs here (no kind, minikube or cluster is reachable from
the test machines), so the runner talks to a fake one (``fake_api.py`` beside this file):
real HTTP on a loopback port, checking the bearer token and validating each created Job
against the schema, but with no pods, no Job controller (a test sets the outcome), no
activeDeadlineSeconds, no TTL and no RBAC beyond a 401/403 switch. That is the gap: the
Job actually running ``trainsmart retrain`` in a pod, with the image, Secret, ConfigMap
and volume of deploy/kubernetes/, is not tested here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from apps.launch import free_port
from apps.settings import Settings
from monitoring.errors import KubernetesConflict, KubernetesForbidden, KubernetesUnavailable
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.runners.factory import make_runner
from monitoring.runners.kubernetes.render import render_job
from monitoring.runners.kubernetes.runner import KubernetesJobRunner, parse_reference
from monitoring.runners.process import SubprocessJobRunner
from tests.monitoring.runners.kubernetes.fake_api import (
    NS,
    TOKEN,
    FakeKubernetes,
    k8s_settings,
    queued,
    serve,
)
from trainsmart.errors import ConfigError
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStatus, JobStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeKubernetes]:
    api = FakeKubernetes()
    server, thread = serve(api)
    yield api
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def kube(settings: Settings, tmp_path: Path, fake: FakeKubernetes) -> Settings:
    return k8s_settings(settings, tmp_path, fake.url)


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(kube: Settings, jobs: JobStore, clock: Clock) -> Iterator[KubernetesJobRunner]:
    made = KubernetesJobRunner(kube.monitoring_scope(), jobs, clock=clock)
    yield made
    made.stop()


# -- the runner against the fake API server ----------------------------------------------------
def test_start_creates_the_job_and_marks_it_running(
    runner: KubernetesJobRunner, jobs: JobStore, fake: FakeKubernetes
) -> None:
    job = queued(jobs)
    runner.start(job)
    name = f"trainsmart-retrain-fair-{job.id}"
    [create] = fake.requests
    assert (create.method, create.path) == ("POST", f"/apis/batch/v1/namespaces/{NS}/jobs")
    assert create.body["metadata"]["name"] == name
    running = jobs.get(job.id)
    assert running.status == JobStatus.RUNNING and running.pid == 0
    assert running.log_path == f"k8s://{NS}/{name}"
    assert parse_reference(running.log_path) == (NS, name)
    assert runner.tracks(job.id) and runner.poll() == []


@pytest.mark.parametrize(
    ("outcome", "condition", "status", "error"),
    [
        (JobStatus.SUCCEEDED, "Complete", JobStatus.SUCCEEDED, None),
        (None, "Complete", JobStatus.FAILED, "exited 0 without an outcome"),
        (None, "Failed", JobStatus.FAILED, "failed (BackoffLimitExceeded) without an outcome"),
        (JobStatus.REJECTED, "Failed", JobStatus.REJECTED, None),
    ],
)
def test_poll_reports_the_finished_job_with_the_right_status(
    runner: KubernetesJobRunner,
    jobs: JobStore,
    fake: FakeKubernetes,
    outcome: JobStatus | None,
    condition: str,
    status: JobStatus,
    error: str | None,
) -> None:
    job = queued(jobs)
    runner.start(job)
    if outcome is not None:  # what `trainsmart retrain --job-id` in the pod does
        jobs.finish(job.id, outcome, {"reason": "retrained", "version": "v2"})
    fake.finish(NS, f"trainsmart-retrain-fair-{job.id}", condition, "BackoffLimitExceeded")
    [finished] = runner.poll()
    assert finished.id == job.id and finished.status == status
    assert finished.result is not None
    if error is not None:
        assert error in finished.result["error"]
        assert f"kubectl logs -n {NS} job/trainsmart-retrain-fair-{job.id}" in finished.outcome
    assert not runner.tracks(job.id) and runner.poll() == []


def test_a_job_past_its_timeout_is_deleted_and_failed(
    runner: KubernetesJobRunner, jobs: JobStore, fake: FakeKubernetes, clock: Clock
) -> None:
    job = queued(jobs)
    runner.start(job)
    clock.now += 59
    assert runner.poll() == []
    clock.now += 2
    [failed] = runner.poll()
    assert failed.status == JobStatus.FAILED and "deleted after 61s" in failed.outcome
    delete = fake.requests[-1]
    assert delete.method == "DELETE" and delete.path.endswith(f"/trainsmart-retrain-fair-{job.id}")
    assert delete.body["propagationPolicy"] == "Background"
    assert fake.jobs == {}


def test_a_job_that_vanished_is_failed(
    runner: KubernetesJobRunner, jobs: JobStore, fake: FakeKubernetes
) -> None:
    job = queued(jobs)
    runner.start(job)
    fake.jobs.clear()  # kubectl delete job, or the TTL controller
    [failed] = runner.poll()
    assert failed.status == JobStatus.FAILED and "is gone" in failed.outcome


def test_an_existing_job_of_the_same_job_is_adopted_on_409(
    kube: Settings, runner: KubernetesJobRunner, jobs: JobStore, fake: FakeKubernetes
) -> None:
    """The monitor created the Job, then crashed before recording it: the job is still
    queued, the next monitor's create answers 409, and the Job is adopted, not duplicated."""
    job = queued(jobs)
    manifest = render_job(kube.monitoring_scope(), job, NS)
    fake.answer("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", f"Bearer {TOKEN}", manifest)
    runner.start(job)
    assert jobs.get(job.id).status == JobStatus.RUNNING and len(fake.jobs) == 1
    assert [r.method for r in fake.requests] == ["POST", "POST", "GET"]


def test_a_foreign_job_of_the_same_name_is_not_adopted(
    kube: Settings, runner: KubernetesJobRunner, jobs: JobStore, fake: FakeKubernetes
) -> None:
    job = queued(jobs)
    other = render_job(kube.monitoring_scope(), job, NS)
    other["metadata"]["annotations"]["trainsmart.dev/job-created-at"] = "1.0"
    fake.answer("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", f"Bearer {TOKEN}", other)
    with pytest.raises(KubernetesConflict, match="kubectl delete job -n ml"):
        runner.start(job)
    assert jobs.get(job.id).status == JobStatus.QUEUED


def test_403_names_the_rbac_and_leaves_the_job_queued(
    runner: KubernetesJobRunner, jobs: JobStore, fake: FakeKubernetes
) -> None:
    fake.forbidden = True
    job = queued(jobs)
    with pytest.raises(KubernetesForbidden) as raised:
        runner.start(job)
    message = raised.value.message
    assert (
        "403" in message and "RBAC" in message and "create, get, list, watch and delete" in message
    )
    assert "monitor-rbac.yaml" in message
    assert jobs.get(job.id).status == JobStatus.QUEUED


def test_a_wrong_token_is_401_with_the_same_advice(
    runner: KubernetesJobRunner, jobs: JobStore, kube: Settings
) -> None:
    kube.monitoring.kubernetes.token_path.write_text("stale-token")
    with pytest.raises(KubernetesForbidden, match="answered 401"):
        runner.start(queued(jobs))


def test_an_invalid_job_is_failed_not_retried(
    runner: KubernetesJobRunner, jobs: JobStore, fake: FakeKubernetes
) -> None:
    fake.reject = True
    job = queued(jobs)
    with pytest.raises(Exception, match="answered 422"):
        runner.start(job)
    failed = jobs.get(job.id)
    assert failed.status == JobStatus.FAILED and "render-job" in failed.outcome
    assert [j.id for j in runner.poll()] == [job.id]


def test_api_down_leaves_the_job_queued_and_the_monitor_retries(
    settings: Settings,
    tmp_path: Path,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
) -> None:
    down = k8s_settings(settings, tmp_path, f"http://127.0.0.1:{free_port()}")
    runner = KubernetesJobRunner(down.monitoring_scope(), jobs)
    job = queued(jobs)
    with pytest.raises(KubernetesUnavailable, match="did not answer"):
        runner.start(job)
    assert jobs.get(job.id).status == JobStatus.QUEUED
    monitor = Monitor(
        down.monitoring_scope(),
        registry,
        input_log,
        jobs,
        runner,
        MonitorMetrics(CollectorRegistry()),
    )
    monitor.check_once()  # tries again, logs, never raises
    assert jobs.get(job.id).status == JobStatus.QUEUED


def test_a_restarted_monitor_adopts_a_running_job_instead_of_failing_it(
    kube: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    fake: FakeKubernetes,
    runner: KubernetesJobRunner,
) -> None:
    job = queued(jobs)
    runner.start(job)
    runner.stop()  # the monitor exits: its Job runs on
    restarted = KubernetesJobRunner(kube.monitoring_scope(), jobs)
    metrics = MonitorMetrics(CollectorRegistry())
    monitor = Monitor(kube.monitoring_scope(), registry, input_log, jobs, restarted, metrics)
    monitor.check_once()
    assert jobs.get(job.id).status == JobStatus.RUNNING and restarted.tracks(job.id)
    jobs.finish(job.id, JobStatus.SUCCEEDED, {"reason": "promoted", "version": "v2"})
    fake.finish(NS, f"trainsmart-retrain-fair-{job.id}", "Complete")
    monitor.check_once()
    assert jobs.get(job.id).status == JobStatus.SUCCEEDED and not restarted.tracks(job.id)
    assert [r.method for r in fake.requests].count("POST") == 1
    restarted.stop()


def test_the_runner_is_chosen_from_the_settings(
    settings: Settings, kube: Settings, jobs: JobStore
) -> None:
    assert isinstance(make_runner(settings.monitoring_scope(), jobs), SubprocessJobRunner)
    chosen = make_runner(kube.monitoring_scope(), jobs)
    assert isinstance(chosen, KubernetesJobRunner) and chosen.namespace == NS
    chosen.stop()
    without_database = kube.model_copy(update={"database_url": None})
    with pytest.raises(ConfigError, match="TRAINSMART_DATABASE_URL"):
        KubernetesJobRunner(without_database.monitoring_scope(), jobs)
