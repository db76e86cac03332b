"""The Alertmanager config: valid for amtool, retrain alerts routed to the monitor's webhook
with its token, everything else to the default receiver, and timings that let one drift
episode start one retrain."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from monitoring.settings import MonitoringSettings
from tests.grafana.promql import ALERTMANAGER, alert_rules, seconds


def config() -> dict[str, Any]:
    return dict(yaml.safe_load(ALERTMANAGER.read_text()))


def retrain_route() -> dict[str, Any]:
    (route,) = [r for r in config()["route"]["routes"] if r["receiver"] == "trainsmart-retrain"]
    return dict(route)


def test_amtool_accepts_the_config(amtool: str) -> None:
    done = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_each_alert_reaches_its_receiver(amtool: str, rule: dict[str, Any]) -> None:
    """amtool resolves the route tree the way Alertmanager does, from the alert's labels."""
    expected = "trainsmart-retrain" if rule["labels"].get("action") == "retrain" else "default"
    labels = {"alertname": rule["alert"], "model": "fair", **rule["labels"]}
    done = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            f"--verify.receivers={expected}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_webhook_is_the_monitors_with_a_bearer_token_from_a_file() -> None:
    (receiver,) = [r for r in config()["receivers"] if r["name"] == "trainsmart-retrain"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"] == f"http://127.0.0.1:{MonitoringSettings().port}/webhook/alertmanager"
    assert hook["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "webhook.token",
    }
    ignored = (ALERTMANAGER.parent / ".gitignore").read_text().split()
    assert "webhook.token" in ignored, "the token file must never be committed"


def test_one_drift_episode_starts_one_retrain() -> None:
    """Alertmanager re-sends a firing group every repeat_interval: longer than the
    monitor's cooldown plus the longest job, or a drift that outlives one retrain would
    ask for the next before the first has been judged."""
    route, defaults = retrain_route(), MonitoringSettings()
    assert route["group_by"] == ["alertname", "model"]
    assert seconds(route["repeat_interval"]) > defaults.cooldown_s + defaults.job_timeout_s
    assert seconds(route["group_wait"]) <= seconds(route["group_interval"])
    assert seconds(route["group_interval"]) <= seconds(route["repeat_interval"])
    hook = [r for r in config()["receivers"] if r["name"] == "trainsmart-retrain"]
    assert hook[0]["webhook_configs"][0]["send_resolved"] is False
