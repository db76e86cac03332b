"""The Alertmanager webhook on a real SQLite state: one job per firing episode however often
Alertmanager delivers it, nothing for resolved alerts, 401/403/400 as documented, the
retrain rules (cooldown, single flight, labels) applied; and mounted on the monitor's real
HTTP server, where the monitor then starts the queued job."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.retrain.policy import RetrainPolicy
from monitoring.retrain.triggers import RetrainTrigger
from monitoring.retrain.webhook import DISABLED, AlertmanagerWebhook
from monitoring.server import start_metrics_server
from monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import MakeBundle
from tests.monitoring.test_monitor import RecordingRunner
from trainsmart.registry import Registry
from trainsmart.state import Database, InputLog, JobStatus, JobStore, SqliteDatabase, Trigger
from trainsmart.state.alerts import AlertLedger

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
GROUP = '{}/{action="retrain"}:{alertname="TrainsmartDatasetDrift", model="fair"}'


def alert(status: str = "firing", fingerprint: str = "a1b2", starts: str = "2026-05-01T10:00:00Z",
          model: str = "fair") -> dict[str, Any]:  # fmt: skip
    return {
        "status": status,
        "labels": {"alertname": "TrainsmartDatasetDrift", "model": model, "action": "retrain"},
        "annotations": {"summary": "drift"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any], group: str = GROUP) -> bytes:
    """An Alertmanager v4 webhook body, as Alertmanager sends it."""
    firing = any(a["status"] == "firing" for a in alerts)
    return json.dumps(
        {
            "version": "4",
            "groupKey": group,
            "truncatedAlerts": 0,
            "status": "firing" if firing else "resolved",
            "receiver": "trainsmart-retrain",
            "groupLabels": {"alertname": "TrainsmartDatasetDrift", "model": "fair"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": list(alerts),
        }
    ).encode()


def with_monitoring(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with monitoring fields changed, validated (a str token becomes SecretStr)."""
    monitoring = MonitoringSettings(**{**dict(settings.monitoring), **changes})
    return settings.model_copy(update={"monitoring": monitoring})


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return with_monitoring(settings, webhook_token=TOKEN, cooldown_s=0.0)


@pytest.fixture
def prom() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


Make = Callable[..., AlertmanagerWebhook]


@pytest.fixture
def make_hook(
    hook_settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    prom: CollectorRegistry,
) -> Make:
    """A webhook on fresh objects over the same database (a call after a restart)."""
    metrics = MonitorMetrics(prom)

    def make(settings: Settings = hook_settings, min_labelled_rows: int = 0) -> AlertmanagerWebhook:
        db = SqliteDatabase(jobs.db.path)
        m = settings.monitoring
        policy = RetrainPolicy(m.consecutive_windows, m.cooldown_s, min_labelled_rows)
        trigger = RetrainTrigger(
            settings.monitoring_scope(), registry, input_log, JobStore(db), policy, metrics
        )
        return AlertmanagerWebhook(settings.monitoring_scope(), trigger, AlertLedger(db), metrics)

    return make


def results(prom: CollectorRegistry, result: str) -> float | None:
    return prom.get_sample_value("trainsmart_webhook_requests_total", {"result": result})


def test_a_firing_group_starts_one_job_however_often_it_is_delivered(
    make_hook: Make, fair_bundle: MakeBundle, jobs: JobStore, prom: CollectorRegistry
) -> None:
    fair_bundle()
    body = payload(alert(), alert(fingerprint="c3d4"))
    status, answer = make_hook().handle(AUTH, body)
    assert status == 202, answer
    job = jobs.get(answer["job_id"])
    assert (job.status, job.trigger, job.actor) == (
        JobStatus.QUEUED,
        Trigger.WEBHOOK,
        "alertmanager",
    )
    assert job.champion_version == "v1"
    assert "TrainsmartDatasetDrift firing for fair since 2026-05-01T10:00:00Z" in job.reason
    assert answer == {"started": True, "job_id": job.id, "status": "queued", "reason": job.reason}
    # Alertmanager re-sends the group (repeat_interval, retries) while the job runs ...
    status, again = make_hook().handle(AUTH, body)
    assert (status, again["started"], again["job_id"]) == (200, False, job.id)
    assert "duplicate delivery" in again["reason"]
    # ... and after it finished: the cooldown is 0, yet the same episode never starts another
    jobs.finish(job.id, JobStatus.REJECTED, {"reason": "lost"})
    status, later = make_hook().handle(AUTH, payload(alert(fingerprint="c3d4")))
    assert (status, later["started"]) == (200, False) and "duplicate" in later["reason"]
    assert len(jobs.list("fair")) == 1
    assert (results(prom, "started"), results(prom, "duplicate")) == (1, 2)
    assert prom.get_sample_value("trainsmart_retrain_jobs_total", {"status": "queued"}) == 1


def test_a_new_episode_of_the_alert_starts_a_new_job(
    make_hook: Make, fair_bundle: MakeBundle, jobs: JobStore
) -> None:
    fair_bundle()
    first = make_hook().handle(AUTH, payload(alert()))[1]["job_id"]
    jobs.finish(first, JobStatus.SUCCEEDED, {"reason": "won"})
    status, answer = make_hook().handle(AUTH, payload(alert(starts="2026-05-02T08:00:00Z")))
    assert status == 202 and answer["job_id"] != first


@pytest.mark.parametrize(
    ("alerts", "says"),
    [
        ([alert(status="resolved")], "no firing alert for model fair"),
        ([alert(model="calm")], "other models' alerts never start a retrain"),
        ([], "no firing alert"),
    ],
    ids=["resolved", "another-model", "no-alerts"],
)
def test_resolved_or_foreign_alerts_start_nothing(
    make_hook: Make,
    fair_bundle: MakeBundle,
    jobs: JobStore,
    prom: CollectorRegistry,
    alerts: list[dict[str, Any]],
    says: str,
) -> None:
    fair_bundle()
    status, answer = make_hook().handle(AUTH, payload(*alerts))
    assert (status, answer["started"]) == (200, False)
    assert says in answer["reason"]
    assert jobs.list("fair") == [] and results(prom, "ignored") == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"},
     {"authorization": "Bearer "}],
    ids=["missing", "wrong", "other-scheme", "empty"],
)  # fmt: skip
def test_a_missing_or_wrong_token_is_401(
    make_hook: Make, jobs: JobStore, prom: CollectorRegistry, headers: dict[str, str]
) -> None:
    assert make_hook().handle(headers, payload(alert())) == (401, {"error": "unauthorized"})
    assert jobs.list() == [] and results(prom, "unauthorized") == 1


def test_the_token_header_and_scheme_are_case_insensitive(
    make_hook: Make, fair_bundle: MakeBundle
) -> None:
    fair_bundle()
    status, _ = make_hook().handle({"Authorization": f"bearer {TOKEN}"}, payload(alert()))
    assert status == 202


def test_without_a_token_the_webhook_is_disabled(
    make_hook: Make, settings: Settings, prom: CollectorRegistry
) -> None:
    for token in (None, "  "):
        off = with_monitoring(settings, webhook_token=token)
        assert off.monitoring.webhook_token is None
        assert make_hook(off).handle(AUTH, payload(alert())) == (403, {"error": DISABLED})
    assert results(prom, "disabled") == 2


def body(**changes: Any) -> bytes:
    data = json.loads(payload(alert()))
    data.update(changes)
    return json.dumps(data).encode()


def broken_alert(**changes: Any) -> bytes:
    one = alert()
    one.update(changes)
    return payload(one)


@pytest.mark.parametrize(
    ("raw", "field", "says"),
    [
        (b"{not json", "body", "not JSON"),
        (b"[]", "body", "expected a JSON object"),
        (body(version="3"), "version", 'expected "4"'),
        (body(groupKey=""), "groupKey", "non-empty string"),
        (body(alerts={"a": 1}), "alerts", "list of alerts"),
        (broken_alert(status="pending"), "alerts[0].status", '"firing" or "resolved"'),
        (broken_alert(fingerprint=None), "alerts[0].fingerprint", "non-empty string"),
        (broken_alert(startsAt=7), "alerts[0].startsAt", "non-empty string"),
        (broken_alert(labels=["model"]), "alerts[0].labels", "an object"),
    ],
)
def test_a_bad_payload_is_400_naming_the_field(
    make_hook: Make, jobs: JobStore, prom: CollectorRegistry, raw: bytes, field: str, says: str
) -> None:
    status, answer = make_hook().handle(AUTH, raw)
    assert status == 400 and answer["field"] == field, answer
    assert answer["error"].startswith(f"{field}: ") and says in answer["error"]
    assert jobs.list() == [] and results(prom, "invalid") == 1


def test_cooldown_and_single_flight_apply(
    make_hook: Make, fair_bundle: MakeBundle, jobs: JobStore, hook_settings: Settings
) -> None:
    fair_bundle()
    running = jobs.create("fair", "drift", trigger=Trigger.DRIFT)
    assert running is not None
    status, answer = make_hook().handle(AUTH, payload(alert()))
    assert (status, answer["started"]) == (200, False)
    assert (
        "already queued or running" in answer["reason"] and f"job {running.id}" in answer["reason"]
    )
    jobs.finish(running.id, JobStatus.REJECTED, {"reason": "lost"})
    cooling = with_monitoring(hook_settings, cooldown_s=3600.0)
    status, answer = make_hook(cooling).handle(AUTH, payload(alert()))
    assert status == 200 and answer["reason"].startswith("cooldown: the last retrain job")
    # a refused episode is not remembered: once the rules allow, its next delivery starts one
    status, answer = make_hook().handle(AUTH, payload(alert()))
    assert status == 202 and len(jobs.list("fair")) == 2


def test_no_job_until_enough_labelled_rows(
    make_hook: Make, fair_bundle: MakeBundle, input_log: InputLog, jobs: JobStore
) -> None:
    fair_bundle()
    status, answer = make_hook(min_labelled_rows=3).handle(AUTH, payload(alert()))
    assert status == 200 and answer["reason"].startswith("waiting for labels: 0 labelled rows")
    for i in range(3):
        input_log.append(f"r{i}", "fair", "v1", [{"age": 30.0}], [{"class": "1"}], [False])
        input_log.add_feedback(f"r{i}", "1")
    status, answer = make_hook(min_labelled_rows=3).handle(AUTH, payload(alert()))
    assert status == 202 and jobs.get(answer["job_id"]).status == JobStatus.QUEUED


def test_mounted_on_the_monitor_server_the_monitor_starts_the_job(
    hook_settings: Settings,
    registry: Registry,
    input_log: InputLog,
    jobs: JobStore,
    db: Database,
    fair_bundle: MakeBundle,
) -> None:
    """The exact wiring of ``trainsmart monitor`` (apps/monitor.py), on port 0."""
    fair_bundle()
    settings = with_monitoring(hook_settings, port=0)
    prom = CollectorRegistry()
    runner = RecordingRunner(jobs)
    monitor = Monitor(
        settings.monitoring_scope(), registry, input_log, jobs, runner, MonitorMetrics(prom)
    )
    webhook = AlertmanagerWebhook(
        settings.monitoring_scope(), monitor.trigger, AlertLedger(db), monitor.metrics
    )
    server, _ = start_metrics_server(
        settings.monitoring,
        prom,
        reports=monitor.reports,
        posts={"/webhook/alertmanager": webhook.handle},
    )
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        sent = httpx.post(f"{url}/webhook/alertmanager", content=payload(alert()), headers=AUTH)
        assert sent.status_code == 202, sent.text
        refused = httpx.post(f"{url}/webhook/alertmanager", content=payload(alert()))
        assert refused.status_code == 401 and refused.json() == {"error": "unauthorized"}
        scrape = httpx.get(f"{url}/metrics").text
    finally:
        server.shutdown()
        server.server_close()
    assert 'trainsmart_webhook_requests_total{result="started"} 1.0' in scrape
    job_id = sent.json()["job_id"]
    monitor.check_once()
    assert [j.id for j in runner.started] == [job_id]
    assert jobs.get(job_id).status == JobStatus.RUNNING
