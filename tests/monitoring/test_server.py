from __future__ import annotations

import urllib.request

from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.metrics import MonitorMetrics
from monitoring.server import start_metrics_server
from monitoring.settings import MonitoringSettings


def test_metrics_endpoint_serves_the_registry_passed_in(settings: Settings) -> None:
    on_free_port = settings.model_copy(update={"monitoring": MonitoringSettings(port=0)})
    registry = CollectorRegistry()
    MonitorMetrics(registry).job_transition("queued")
    server, thread = start_metrics_server(on_free_port.monitoring, registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
        assert 'trainsmart_retrain_jobs_total{status="queued"} 1.0' in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
