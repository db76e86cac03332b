"""`make stack` (grafana/stack.py): the configs it writes are valid, and the real
Prometheus and Alertmanager it starts load them; a retrain alert reaches a stand-in for
the monitor's webhook with the bearer token."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.grafana.promql import GRAFANA, alert_rules
from tests.services import free_port, require_binary, wait_until

TOKEN = "webhook-secret"


def load_stack() -> ModuleType:
    """grafana/stack.py by path: grafana/ is no package (the name would shadow others)."""
    spec = importlib.util.spec_from_file_location("trainsmart_grafana_stack", GRAFANA / "stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


stack = load_stack()


def addresses(monitor_port: int) -> Any:
    return stack.Addresses(
        service=f"127.0.0.1:{free_port()}",
        monitor=f"127.0.0.1:{monitor_port}",
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        grafana_port=free_port(),
        token=TOKEN,
    )


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


def active_alertmanagers(prometheus_api: str) -> list[str]:
    found = get(f"{prometheus_api}/alertmanagers")["data"]["activeAlertmanagers"]
    return [m["url"] for m in found]


def test_the_written_configs_pass_promtool_and_amtool(
    promtool: str, amtool: str, tmp_path: Path
) -> None:
    at = addresses(free_port())
    prometheus = stack.render_prometheus(tmp_path, at)
    alertmanager = stack.render_alertmanager(tmp_path, at)
    for command in (
        [promtool, "check", "config", str(prometheus)],
        [amtool, "check-config", str(alertmanager)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    hook = yaml.safe_load(alertmanager.read_text())["receivers"][1]["webhook_configs"][0]
    assert hook["url"] == f"http://{at.monitor}/webhook/alertmanager"
    token = Path(hook["http_config"]["authorization"]["credentials_file"])
    assert token.read_text() == TOKEN and token.stat().st_mode & 0o077 == 0


def test_grafana_provisioning_points_at_the_repository_board(tmp_path: Path) -> None:
    at = addresses(free_port())
    root = stack.render_grafana(tmp_path, at)
    boards = yaml.safe_load((root / "dashboards" / "trainsmart.yaml").read_text())
    assert Path(boards["providers"][0]["options"]["path"]) == GRAFANA / "dashboards"
    sources = yaml.safe_load((root / "datasources" / "prometheus.yaml").read_text())
    urls = {s["type"]: s["url"] for s in sources["datasources"]}
    assert urls["prometheus"] == f"http://127.0.0.1:{at.prometheus_port}"


class Webhook(BaseHTTPRequestHandler):
    """Stands in for the monitor's /webhook/alertmanager: records what Alertmanager sends."""

    calls: list[tuple[str, str, dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((self.path, self.headers.get("Authorization", ""), body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def monitor() -> Iterator[tuple[int, list[tuple[str, str, dict[str, Any]]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Webhook)
    Webhook.calls = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], Webhook.calls
    server.shutdown()
    server.server_close()


def test_the_stack_loads_the_rules_and_routes_retrain_alerts_to_the_webhook(
    tmp_path: Path, monitor: tuple[int, list[tuple[str, str, dict[str, Any]]]]
) -> None:
    require_binary("prometheus", apt_package="prometheus")
    require_binary("prometheus-alertmanager", apt_package="prometheus-alertmanager")
    port, calls = monitor
    at = addresses(port)
    running = [s for s in stack.servers(tmp_path, at) if s.name != "grafana"]
    # The first notification of a group waits group_wait (30 s): 1 s keeps the test short.
    config = tmp_path / "alertmanager.yml"
    rendered = yaml.safe_load(config.read_text())
    rendered["route"]["routes"][0]["group_wait"] = "1s"
    config.write_text(yaml.safe_dump(rendered))
    stack.start(tmp_path, running)
    try:
        prometheus = f"http://127.0.0.1:{at.prometheus_port}/api/v1"
        groups = get(f"{prometheus}/rules")["data"]["groups"]
        assert sum(len(g["rules"]) for g in groups) == len(alert_rules())
        managers = [f"http://127.0.0.1:{at.alertmanager_port}/api/v2/alerts"]
        wait_until(
            lambda: active_alertmanagers(prometheus) == managers,
            10,
            "Prometheus discovering the Alertmanager",
        )
        wait_until(
            lambda: len(get(f"{prometheus}/targets")["data"]["activeTargets"]) == 2,
            10,
            "Prometheus's two scrape targets",
        )
        targets = get(f"{prometheus}/targets")["data"]["activeTargets"]
        assert {t["scrapeUrl"] for t in targets} == {
            f"http://{at.service}/metrics",
            f"http://{at.monitor}/metrics",
        }
        alerts = [
            {
                "labels": {
                    "alertname": "TrainsmartDatasetDrift",
                    "model": "fair",
                    "action": "retrain",
                    "severity": "warning",
                }
            },
            {"labels": {"alertname": "TrainsmartHighLatency", "severity": "warning"}},
        ]
        request = urllib.request.Request(
            f"http://127.0.0.1:{at.alertmanager_port}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()
        wait_until(lambda: bool(calls), 20, "Alertmanager's call of the retrain webhook")
    finally:
        stack.stop(running)
    path, authorization, body = calls[0]
    assert (path, authorization) == ("/webhook/alertmanager", f"Bearer {TOKEN}")
    assert body["status"] == "firing" and body["groupLabels"] == {
        "alertname": "TrainsmartDatasetDrift",
        "model": "fair",
    }
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["TrainsmartDatasetDrift"]
    assert len(calls) == 1, "only the retrain alert goes to the webhook"
