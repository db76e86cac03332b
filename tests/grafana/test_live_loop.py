"""The whole monitoring path, live: the real service and monitor, and Prometheus and
Alertmanager started with the shipped configs (ports substituted; the alert's `for:`,
the scrape and evaluation intervals and Alertmanager's group_wait shortened so the
test takes seconds, not minutes).

In-distribution traffic, then drifted traffic: the drift alert goes pending, then
firing; Alertmanager delivers it to the monitor's webhook with the token; exactly one
retrain job starts; and every query of every dashboard panel returns a series from
that Prometheus (read out of the dashboard JSON, so a renamed metric breaks this),
including the importance-weighted drift share, the per-feature drifted flags and the
estimated metric with its band beside the realized one (the bundles carry importance, a
test metric and a calibration); and the monitor's /metrics passes `promtool check metrics`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from apps.launch import child_env, free_port, start_monitor, start_service, wait_http
from apps.settings import Settings
from tests.conftest import logistic_onnx
from tests.grafana.promql import dashboard, dashboard_queries, substitute
from tests.grafana.test_stack import stack
from tests.monitoring.conftest import FEATURES, make_contract
from tests.services import require_binary
from trainsmart.registry import Lineage, Registry
from trainsmart.registry.bundle import CALIBRATION_FILE
from trainsmart.state import JobStore

pytestmark = pytest.mark.server

TOKEN = "live-webhook-token"
ALERT = "TrainsmartDatasetDrift"
WINDOW = 100
ALL = {"instance": ".*"}  # the board's instance variable set to All: service and monitor


def _fair() -> pd.DataFrame:
    import statsmodels.api as sm

    return sm.datasets.fair.load_pandas().data[FEATURES].reset_index(drop=True)


def _register(registry: Registry, staging: Path, reference: pd.DataFrame, promote: bool) -> str:
    staging.mkdir()
    weights = np.array([-0.6, 0.0, 0.12, 0.0, -0.3, 0.0, 0.0, 0.0])
    logistic_onnx(staging / "model.onnx", weights, bias=2.0 if promote else 2.5)
    (staging / "contract.json").write_text(make_contract().model_dump_json())
    # permutation importance (the weighted drift share) and a test metric plus a calibration
    # (the label-free estimate and its harm threshold): the issue K panels get series
    importance = {
        name: {"mean": float(abs(w)), "std": 0.0} for name, w in zip(FEATURES, weights, strict=True)
    }
    metrics = {
        "serving": {"accuracy": 0.75},
        "importance": {"method": "permutation", "features": importance},
    }
    (staging / "metrics.json").write_text(json.dumps(metrics))
    calibration = {"method": "none", "classes": ["0", "1"], "temperature": 1.0}
    (staging / CALIBRATION_FILE).write_text(json.dumps(calibration))
    reference.to_parquet(staging / "reference.parquet")
    bundle = registry.register("fair", staging, Lineage(dataset_fingerprint="live"))
    if promote:
        registry.promote("fair", bundle.version, reason="live test")
    return bundle.version


def _shorten(workdir: Path) -> None:
    """The shipped configs with test-sized timings (everything else as shipped)."""
    prometheus = yaml.safe_load((workdir / "prometheus.yml").read_text())
    prometheus["global"].update(scrape_interval="1s", evaluation_interval="1s")
    for job in prometheus["scrape_configs"]:
        job.pop("scrape_interval", None)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(prometheus))
    alerts = yaml.safe_load((workdir / "alerts.yml").read_text())
    for group in alerts["groups"]:
        group.pop("interval", None)
        for rule in group["rules"]:
            if rule.get("alert") == "TrainsmartDatasetDrift":
                rule["for"] = "3s"
    (workdir / "alerts.yml").write_text(yaml.safe_dump(alerts))
    manager = yaml.safe_load((workdir / "alertmanager.yml").read_text())
    for route in [manager["route"], *manager["route"].get("routes", [])]:
        route["group_wait"] = "1s"
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(manager))


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def _alert_state(api: str, name: str) -> str | None:
    for alert in _get(f"{api}/alerts")["data"]["alerts"]:
        if alert["labels"].get("alertname") == name:
            return str(alert["state"])
    return None


PACE_S = float(os.environ.get("TRAINSMART_BOARD_PACE_S", "0"))
"""Pause between batches: 0 in the suite; about 1 s when rendering the README picture, so
the rate and latency panels have a minute of traffic to show."""


def _send(
    client: httpx.Client, frame: pd.DataFrame, after: Callable[[], object] = lambda: None
) -> None:
    for start in range(0, len(frame), 20):
        time.sleep(PACE_S)
        after()
        rows = [
            {k: (None if v != v else float(v)) for k, v in r.items()}
            for r in frame.iloc[start : start + 20].to_dict(orient="records")
        ]
        answer = client.post("/predict", json={"instances": rows})
        assert answer.status_code == 200, answer.text
        client.post("/feedback", json={"request_id": answer.json()["request_id"], "label": "1"})


def test_drift_fires_reaches_the_webhook_starts_one_retrain_and_fills_every_panel(
    settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    require_binary("prometheus", apt_package="prometheus")
    require_binary("prometheus-alertmanager", apt_package="prometheus-alertmanager")
    fair = _fair()
    reference = fair.sample(600, random_state=0)
    rest = fair.drop(reference.index).sample(frac=1.0, random_state=1)
    shifted = rest[(rest.age >= 37) & (rest.yrs_married >= 16.5)]
    _register(registry, tmp_path / "v1", reference, promote=True)
    candidate = _register(registry, tmp_path / "v2", reference, promote=False)
    registry.set_candidate("fair", candidate, shadow=True, reason="live test")

    service_port, monitor_port = free_port(), free_port()
    env = child_env(
        None,
        TRAINSMART_DATA_DIR=str(settings.data_dir),
        TRAINSMART_MODEL_NAME="fair",
        TRAINSMART_SERVING__RELOAD_INTERVAL_S="0.3",
        TRAINSMART_MONITORING__WINDOW_ROWS=str(WINDOW),
        TRAINSMART_MONITORING__INTERVAL_S="0.3",
        TRAINSMART_MONITORING__CONSECUTIVE_WINDOWS="1000",  # only the webhook may trigger
        TRAINSMART_MONITORING__MIN_LABELLED_ROWS="0",
        TRAINSMART_MONITORING__COOLDOWN_S="3600",
        TRAINSMART_MONITORING__WEBHOOK_TOKEN=TOKEN,
    )
    service = start_service(env, service_port, tmp_path / "service.log")
    monitor = start_monitor(env, monitor_port, tmp_path / "monitor.log")
    at = stack.Addresses(
        service=f"127.0.0.1:{service_port}",
        monitor=f"127.0.0.1:{monitor_port}",
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        grafana_port=free_port(),
        token=TOKEN,
    )
    workdir = tmp_path / "stack"
    workdir.mkdir()
    servers = [s for s in stack.servers(workdir, at) if s.name != "grafana"]
    _shorten(workdir)
    api = f"http://127.0.0.1:{at.prometheus_port}/api/v1"
    states: list[str | None] = []
    try:
        wait_http(service, "/readyz")
        wait_http(monitor, "/metrics")
        stack.start(workdir, servers)
        with httpx.Client(base_url=service.url, timeout=30.0) as client:
            _send(client, rest.iloc[: 2 * WINDOW])
            time.sleep(4)  # two calm windows, scraped
            assert _alert_state(api, ALERT) is None
            drifted = shifted.iloc[: 3 * WINDOW].copy()
            drifted.loc[drifted.index[-5:], "age"] = np.nan  # the data-quality panel's rows
            _send(client, drifted, lambda: states.append(_alert_state(api, ALERT)))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "firing" not in states:
                states.append(_alert_state(api, ALERT))
                time.sleep(0.3)
        jobs = JobStore(registry.db)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not jobs.list("fair"):
            time.sleep(0.3)
        time.sleep(5)  # Alertmanager and the monitor have had time to start a second one
        started = jobs.list("fair")
        queries = [(q.where, substitute(q.expr, ALL)) for q in dashboard_queries(dashboard())]
        picture = Path(os.environ.get("TRAINSMART_BOARD_PNG", tmp_path / "board.png"))
        _renderer().render(f"http://127.0.0.1:{at.prometheus_port}", picture, minutes=2.0)
        empty = [
            where
            for where, expr in queries
            if where.startswith(("panel", "variable"))
            and not _get(f"{api}/query?" + urllib.parse.urlencode({"query": expr}))["data"][
                "result"
            ]
        ]
        with urllib.request.urlopen(f"{monitor.url}/metrics", timeout=10) as answer:
            scrape = answer.read()
    finally:
        stack.stop(servers)
        monitor.stop()
        service.stop()
    assert "pending" in states and states[-1] == "firing", states
    assert states.index("pending") < states.index("firing")
    assert len(started) == 1, started
    assert started[0].trigger == "webhook", started[0]
    assert "TrainsmartDatasetDrift" in started[0].reason
    assert empty == [], f"panels with no series: {empty}"
    # the monitor's real exposition, issue K gauges filled, passes Prometheus's own lint
    for family in ("trainsmart_weighted_drift_share", "trainsmart_feature_drifted"):
        assert f"\n{family}{{".encode() in scrape, family
    lint = subprocess.run(
        [require_binary("promtool", apt_package="prometheus"), "check", "metrics"],
        input=scrape,
        capture_output=True,
        timeout=60,
    )
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 20_000


def _renderer() -> Any:
    """grafana/render.py by path (grafana/ is not a package)."""
    import importlib.util

    from tests.grafana.promql import GRAFANA

    spec = importlib.util.spec_from_file_location(
        "trainsmart_grafana_render", GRAFANA / "render.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
