"""Real-server tier: the whole loop with `bentoml serve` and `trainsmart monitor` as processes.

predictions -> feedback -> a drift window -> a retrain job -> a promotion ->
the running service answers with the new version, every request answered.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from apps.demo.scenario import build_scenario, write_config
from apps.launch import child_env, free_port, start_monitor, start_service, wait_http
from apps.settings import load_settings
from trainsmart.registry import Registry
from trainsmart.state import InputLog, JobStatus, JobStore, open_database

pytestmark = pytest.mark.server


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text -> {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_closed_loop_on_real_processes(tmp_path: Path) -> None:
    from training.pipeline import train_and_register

    scenario = build_scenario(tmp_path / "inputs")
    config = write_config(
        tmp_path / "trainsmart.yaml",
        scenario,
        tmp_path / "data",
        {
            "training": {
                "max_epochs": 6,
                "hidden_sizes": [16],
                "retrain": {"margin": -1.0, "min_labelled_rows": 30, "recent_rows": 300},
            },
            "serving": {"reload_interval_s": 0.5},
            "monitoring": {
                "interval_s": 1.0,
                "window_rows": 100,
                "trigger": "drift",  # the demo's config says both; this loop tests drift
                "consecutive_windows": 1,
                "cooldown_s": 0.0,
            },
        },
    )
    settings = load_settings(config)
    db = open_database(settings)
    registry, jobs, log = Registry(settings.paths.model_store, db), JobStore(db), InputLog(db)
    v1 = train_and_register(settings.training_scope(), registry, progress=False).bundle.version
    registry.promote(settings.model_name, v1, reason="e2e", actor="test")

    env = child_env(config)
    service = start_service(env, free_port(), tmp_path / "service.log")
    monitor = start_monitor(env, free_port(), tmp_path / "monitor.log")
    statuses: list[int] = []
    try:
        wait_http(service, "/readyz")
        wait_http(monitor, "/metrics")
        client = httpx.Client(base_url=service.url, timeout=30.0)
        rows, labels = scenario.rows(scenario.shifted)
        versions = []
        for start in range(0, 200, 10):
            response = client.post("/predict", json={"instances": rows[start : start + 10]})
            statuses.append(response.status_code)
            body = response.json()
            versions.append(body["version"])
            for i in range(len(body["predictions"])):
                fb = client.post(
                    "/feedback",
                    json={
                        "request_id": body["request_id"],
                        "row_index": i,
                        "label": labels[start + i],
                    },
                )
                statuses.append(fb.status_code)
        assert set(versions) == {v1}
        assert log.count(settings.model_name, v1) == 200

        deadline = time.monotonic() + 240
        job = None
        while time.monotonic() < deadline:
            job = jobs.last_created(settings.model_name)
            if job is not None and jobs.get(job.id).status.finished:
                break
            assert monitor.alive(), monitor.log_tail()
            time.sleep(1)
        assert job is not None, f"no retrain job; monitor log:\n{monitor.log_tail()}"
        job = jobs.get(job.id)
        assert job.status is JobStatus.SUCCEEDED, (job.result, Path(job.log_path or "").read_text())
        v2 = registry.production(settings.model_name)
        assert v2 is not None and v2 != v1

        swapped = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and swapped != v2:
            response = client.post("/predict", json={"instances": rows[200:201]})
            statuses.append(response.status_code)
            swapped = response.json()["version"]
            time.sleep(0.2)
        assert swapped == v2
        name = settings.model_name
        monitor_metrics = samples(httpx.get(monitor.url + "/metrics").text)
        assert monitor_metrics[("trainsmart_drift_checks_total", (("model", name),))] >= 1
        assert ("trainsmart_dataset_drift", (("model", name),)) in monitor_metrics
        journal = settings.data_dir / "monitoring" / f"{name}.drift.jsonl"
        windows = [json.loads(line) for line in journal.read_text().splitlines()]
        trigger = [w for w in windows if w.get("job_id") == job.id]
        assert trigger and trigger[0]["version"] == v1 and trigger[0]["result"]["dataset_drift"]
        served = samples(httpx.get(service.url + "/metrics").text)
        assert served[("trainsmart_model_info", (("model", name), ("version", v2)))] == 1.0
        assert served[("trainsmart_model_info", (("model", name), ("version", v1)))] == 0.0
    finally:
        service.stop()
        monitor.stop()
    assert statuses and set(statuses) == {200}
