"""Alertmanager's webhook: a firing drift alert asks the monitor for a retrain.

Framework-free: :meth:`AlertmanagerWebhook.handle` takes the request headers and body and
returns ``(status, json_body)``; the monitor's HTTP server mounts it as
``POST /webhook/alertmanager`` (``monitoring/server.py``, ``posts=``; wired in
``apps/monitor.py``). Answers:

======  ===================================================================================
202     a retrain job was queued: ``{"started": true, "job_id": 7, "reason": ...}``; the
        monitor starts it at its next check (within ``monitoring.interval_s``)
200     nothing started, and why: a duplicate delivery, only resolved alerts, alerts of
        another model, or the retrain rules said no (cooldown, a job in flight, waiting
        for labels; ``monitoring/retrain/triggers.py``)
400     not an Alertmanager v4 payload; ``field`` names what is wrong
401     ``{"error": "unauthorized"}``: the bearer token is missing or wrong
403     ``monitoring.webhook_token`` is unset: the webhook is disabled
500     the state database failed; Alertmanager retries the delivery
======  ===================================================================================

Only alerts with ``status: firing`` count. Each firing alert is one episode, named by
its group's ``groupKey``, its ``fingerprint`` and ``startsAt``; an episode that already
started a job is remembered in the state database (``trainsmart/state/alerts.py``), so
Alertmanager's re-deliveries of a group (``repeat_interval``, restarts, retries) start
one job in all. An episode the rules turned down is not remembered: a later delivery
may still start one.

Example::

    hook = AlertmanagerWebhook(scope, monitor.trigger, AlertLedger(db), metrics)
    status, body = hook.handle({"authorization": "Bearer s3cret"}, payload_bytes)
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from monitoring.metrics import MonitorMetrics
from monitoring.retrain.triggers import RetrainTrigger
from monitoring.settings import MonitoringScope
from trainsmart.state.alerts import AlertKey, AlertLedger
from trainsmart.state.jobs import Trigger

log = logging.getLogger(__name__)

DISABLED = "webhook disabled; set monitoring.webhook_token"


class PayloadError(ValueError):
    """The body is not an Alertmanager v4 webhook payload; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _presented_token(headers: Mapping[str, str]) -> str | None:
    """The token of ``Authorization: Bearer TOKEN`` (header name and scheme case-insensitive)."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def parse_payload(body: bytes) -> dict[str, Any]:
    """The decoded payload, checked field by field (PayloadError names the first bad one)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError("body", f"not JSON ({exc}); send Alertmanager's webhook JSON") from exc
    if not isinstance(payload, dict):
        raise PayloadError("body", "expected a JSON object")
    if payload.get("version") != "4":
        raise PayloadError(
            "version",
            f'expected "4" (Alertmanager\'s webhook payload version), got '
            f"{payload.get('version')!r}",
        )
    if not isinstance(payload.get("groupKey"), str) or not payload["groupKey"]:
        raise PayloadError("groupKey", "expected a non-empty string")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts", "expected a list of alerts")
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            raise PayloadError(where, "expected an object")
        if alert.get("status") not in ("firing", "resolved"):
            raise PayloadError(
                f"{where}.status", f'expected "firing" or "resolved", got {alert.get("status")!r}'
            )
        for name in ("fingerprint", "startsAt"):
            if not isinstance(alert.get(name), str) or not alert[name]:
                raise PayloadError(f"{where}.{name}", "expected a non-empty string")
        if not isinstance(alert.get("labels", {}), dict):
            raise PayloadError(f"{where}.labels", "expected an object of label names to values")
    return payload


class AlertmanagerWebhook:
    """Turns firing Alertmanager alerts into (at most one) retrain job per episode."""

    def __init__(
        self,
        scope: MonitoringScope,
        trigger: RetrainTrigger,
        ledger: AlertLedger,
        metrics: MonitorMetrics | None = None,
    ) -> None:
        self.token = scope.monitoring.webhook_token
        self.model = scope.model_name
        self.trigger = trigger
        self.ledger = ledger
        self.metrics = metrics

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one delivery (see the module docstring); never raises."""
        try:
            result, status, answer = self._handle(headers, body)
        except Exception as exc:  # the state database: let Alertmanager retry
            log.exception("%s: the Alertmanager webhook failed", self.model)
            result, status, answer = (
                "error",
                500,
                {"error": f"the delivery could not be handled ({type(exc).__name__}: {exc}); "
                 "Alertmanager retries it, check the monitor's log and its data_dir"},
            )  # fmt: skip
        if self.metrics is not None:
            self.metrics.webhook_request(result)
        return status, answer

    def _handle(self, headers: Mapping[str, str], body: bytes) -> tuple[str, int, dict[str, Any]]:
        if self.token is None:
            return "disabled", 403, {"error": DISABLED}
        expected = self.token.get_secret_value().encode("utf-8")
        given = (_presented_token(headers) or "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            return "unauthorized", 401, {"error": "unauthorized"}
        try:
            payload = parse_payload(body)
        except PayloadError as exc:
            return "invalid", 400, {"error": str(exc), "field": exc.field}
        group = payload["groupKey"]
        firing = [
            a
            for a in payload["alerts"]
            if a["status"] == "firing"
            and a.get("labels", {}).get("model", self.model) == self.model
        ]
        if not firing:
            reason = (
                f"no firing alert for model {self.model} in group {group} (resolved alerts "
                "and other models' alerts never start a retrain)"
            )
            return "ignored", 200, {"started": False, "reason": reason}
        keys = [AlertKey(group, a["fingerprint"], a["startsAt"]) for a in firing]
        if not self.ledger.unseen(keys):
            job_id = self.ledger.job_of(keys[0])
            reason = f"duplicate delivery: these alerts already started retrain job {job_id}"
            return "duplicate", 200, {"started": False, "reason": reason, "job_id": job_id}
        names = sorted({str(a.get("labels", {}).get("alertname", "alert")) for a in firing})
        since = min(a["startsAt"] for a in firing)
        reason = (
            f"alertmanager: {', '.join(names)} firing for {self.model} since {since} "
            f"(group {group})"
        )
        decision = self.trigger.request(Trigger.WEBHOOK, reason, actor="alertmanager")
        if decision.job is None:
            return "refused", 200, {"started": False, "reason": decision.reason}
        self.ledger.record(keys, decision.job.id)
        answer = {
            "started": True,
            "job_id": decision.job.id,
            "status": decision.job.status.value,
            "reason": reason,
        }
        return "started", 202, answer
