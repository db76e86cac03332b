"""Grafana provisioning: the datasources, the dashboard provider, and Grafana-managed alert
rules that match the Prometheus ones alert for alert."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.grafana.promql import GRAFANA, PROVISIONING, ROOT, Query, alert_rules, promtool_parse

RULES = PROVISIONING / "alerting" / "trainsmart.yaml"


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def grafana_rules() -> dict[str, dict[str, Any]]:
    document = load(RULES)
    assert document["apiVersion"] == 1
    return {r["title"]: r for g in document["groups"] for r in g["rules"]}


def prometheus_uid() -> str:
    sources = load(PROVISIONING / "datasources" / "prometheus.yaml")["datasources"]
    (prometheus,) = [s for s in sources if s["type"] == "prometheus"]
    return str(prometheus["uid"])


def test_the_committed_rules_are_what_rules_py_generates() -> None:
    done = subprocess.run(
        [sys.executable, str(GRAFANA / "rules.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{done.stderr.strip()} (make grafana)"


def test_datasources_point_at_the_stack() -> None:
    listed = load(PROVISIONING / "datasources" / "prometheus.yaml")["datasources"]
    sources = {s["type"]: s for s in listed}
    assert sources["prometheus"]["url"] == "http://127.0.0.1:9090"
    assert sources["alertmanager"]["url"] == "http://127.0.0.1:9093"
    assert sources["prometheus"]["jsonData"]["alertmanagerUid"] == sources["alertmanager"]["uid"]


def test_the_dashboard_provider_loads_a_folder_of_files() -> None:
    (provider,) = load(PROVISIONING / "dashboards" / "trainsmart.yaml")["providers"]
    assert provider["type"] == "file"
    assert Path(provider["options"]["path"]).is_absolute()


def test_each_prometheus_alert_has_one_grafana_rule_and_no_more() -> None:
    assert set(grafana_rules()) == {r["alert"] for r in alert_rules()}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_the_grafana_rule_is_the_prometheus_alert(rule: dict[str, Any]) -> None:
    """Same PromQL, `for`, labels and annotations ($value is $values.A.Value in Grafana),
    evaluated as Prometheus does: any series returned fires, none is normal."""
    mine = grafana_rules()[rule["alert"]]
    query, math, threshold = mine["data"]
    assert query["refId"] == "A" and query["datasourceUid"] == prometheus_uid()
    assert query["model"]["expr"] == rule["expr"]
    assert query["model"]["instant"] is True
    assert math["datasourceUid"] == "__expr__" and math["model"]["type"] == "math"
    assert math["model"]["expression"] == "is_number($A) || is_nan($A) || is_inf($A)"
    assert threshold["model"]["type"] == "threshold" and threshold["model"]["expression"] == "B"
    assert threshold["model"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [0]}
    assert mine["condition"] == threshold["refId"] == "C"
    assert (mine["noDataState"], mine["execErrState"]) == ("OK", "Error")
    assert mine["for"] == rule.get("for", "0s")
    assert mine["labels"] == rule["labels"]
    expected = {k: v.replace("$value", "$values.A.Value") for k, v in rule["annotations"].items()}
    assert mine["annotations"] == expected
    assert re.fullmatch(r"[a-z0-9-]{1,40}", mine["uid"]), "Grafana uids: 40 characters at most"


def test_the_grafana_rules_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    queries = [Query(title, r["data"][0]["model"]["expr"]) for title, r in grafana_rules().items()]
    promtool_parse(promtool, queries, tmp_path)
