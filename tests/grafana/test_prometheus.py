"""The Prometheus config and alert rules: valid for promtool, unit-tested alert by alert,
and built from metrics the code exports."""

from __future__ import annotations

import subprocess

import yaml

from tests.grafana.promql import (
    ALERTS,
    ALERTS_TEST,
    PENDING,
    PROMETHEUS,
    SCRAPE_LABELS,
    alert_rules,
    exported_metrics,
    labels_in,
    metrics_in,
    seconds,
    template_labels,
)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_config_and_its_rule_files(promtool: str) -> None:
    done = run(promtool, "check", "config", str(PROMETHEUS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_promtool_accepts_the_rules(promtool: str) -> None:
    done = run(promtool, "check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_unit_tests_pass(promtool: str) -> None:
    done = run(promtool, "test", "rules", str(ALERTS_TEST))
    assert done.returncode == 0, done.stdout + done.stderr


def _cases() -> dict[str, list[tuple[str, int, bool]]]:
    """alertname -> (test name, eval time in s, fires?) for every case of alerts_test.yml."""
    cases: dict[str, list[tuple[str, int, bool]]] = {}
    for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            when = (test["name"], seconds(case["eval_time"]), bool(case["exp_alerts"]))
            cases.setdefault(case["alertname"], []).append(when)
    return cases


def test_every_alert_is_unit_tested_firing_silent_and_debounced() -> None:
    """Each alert fires in a case and is silent in another. With `for: D`, some test has it
    silent at t_s and firing at t_f with t_f - D <= t_s < t_f: firing at t_f means the
    condition held since t_f - D at the latest, so at t_s it held and the alert was only
    pending: the debounce."""
    cases = _cases()
    for rule in alert_rules():
        name = rule["alert"]
        assert name in cases, f"{name} has no case in {ALERTS_TEST.name}"
        assert any(fires for _, _, fires in cases[name]), f"{name} never fires in a test"
        assert any(not fires for _, _, fires in cases[name]), f"{name} is never silent"
        if "for" not in rule:
            continue
        hold = seconds(rule["for"])
        fired = [(test, at) for test, at, fires in cases[name] if fires]
        silent = [(test, at) for test, at, fires in cases[name] if not fires]
        assert any(
            test_f == test_s and t_f - hold <= t_s < t_f
            for test_f, t_f in fired
            for test_s, t_s in silent
        ), f"{name}: no case shows it silent while pending within its for: {rule['for']}"


def test_every_alert_has_a_severity_and_says_what_to_look_at() -> None:
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["alert"].startswith("Trainsmart"), "the dashboard's alert list filters on it"
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description"}, rule["alert"]
        assert len(annotations["description"]) > len(annotations["summary"]), rule["alert"]


def test_drift_alerts_ask_for_a_retrain_and_nothing_else_does() -> None:
    retrain = {r["alert"] for r in alert_rules() if r["labels"].get("action") == "retrain"}
    assert retrain == {"TrainsmartDatasetDrift"}


def test_the_rules_query_only_exported_metrics_and_their_labels() -> None:
    catalogue = {**PENDING, **exported_metrics()}
    for rule in alert_rules():
        metrics = metrics_in(rule["expr"])
        unknown = metrics - set(catalogue)
        assert not unknown, f"{rule['alert']}: no such metric in the code: {unknown}"
        allowed = SCRAPE_LABELS.union(*(catalogue[m] for m in metrics))
        used = labels_in(rule["expr"]) | template_labels(str(rule["annotations"]))
        assert used <= allowed, f"{rule['alert']}: labels {used - allowed} not on {metrics}"


def test_scrape_jobs_are_the_ones_the_rules_and_dashboard_select() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert jobs == {
        "trainsmart-service": ["127.0.0.1:3000"],
        "trainsmart-monitor": ["127.0.0.1:9108"],
    }
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]
