"""What the grafana/ tests share: the files, the queries they hold, and the metrics the
code exports (the contract every query must keep to).

Prometheus has no offline "parse this PromQL" command, so :func:`promtool_parse` writes
the expressions as recording rules into a throwaway rules file and runs
``promtool check rules`` on it: that parses each one with Prometheus's own parser.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from monitoring.metrics import MonitorMetrics
from serving.metrics import ServingMetrics

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
BOARD = GRAFANA / "dashboards" / "trainsmart.json"
ALERTS = GRAFANA / "prometheus" / "alerts.yml"
ALERTS_TEST = GRAFANA / "prometheus" / "alerts_test.yml"
PROMETHEUS = GRAFANA / "prometheus" / "prometheus.yml"
ALERTMANAGER = GRAFANA / "alertmanager" / "alertmanager.yml"
PROVISIONING = GRAFANA / "provisioning"

# Grafana variables -> a value each, so the queries become plain PromQL.
VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "model": "fair",
    "instance": "127.0.0.1:3000",
    "feature": "age",
}
# Queried before the code exports them (issue F, announced by their owners): name -> labels.
PENDING: dict[str, set[str]] = {}
SCRAPE_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series


@dataclass(frozen=True)
class Query:
    where: str
    expr: str
    legend: str = ""


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def dashboard() -> dict[str, Any]:
    import json

    return dict(json.loads(BOARD.read_text()))


def substitute(expr: str, overrides: dict[str, str] | None = None) -> str:
    """Replace ``$var`` and ``${var}`` by the values of :data:`VARIABLES` (or ``overrides``)."""
    values = {**VARIABLES, **(overrides or {})}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no test value for Grafana variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def dashboard_queries(board: dict[str, Any]) -> Iterator[Query]:
    """Every PromQL of the dashboard: panel targets, annotations, variable selectors."""
    for panel in board["panels"]:
        for t in panel.get("targets", []):
            yield Query(f"panel {panel['title']!r} {t['refId']}", t["expr"], t["legendFormat"])
    for a in board["annotations"]["list"]:
        if "expr" in a:
            yield Query(f"annotation {a['name']!r}", a["expr"], a["titleFormat"])
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["query"])
            if match is None:
                raise ValueError(f"variable {v['name']}: not label_values(selector, label)")
            yield Query(f"variable {v['name']}", match.group(1), f"{{{{{match.group(2)}}}}}")


def promtool_parse(promtool: str, queries: list[Query], workdir: Path) -> None:
    """Parse every query with Prometheus; AssertionError naming the ones that fail."""
    groups = [
        {"name": q.where, "rules": [{"record": f"check:expr_{n}", "expr": q.expr}]}
        for n, q in enumerate(queries)
    ]
    rules = workdir / "parse_check.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    done = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"promtool cannot parse:\n{done.stdout}\n{done.stderr}"


SAMPLE_SUFFIXES = {
    "counter": ["_total"],
    "gauge": [""],
    "histogram": ["_bucket", "_sum", "_count"],
    "summary": ["_sum", "_count"],
    "info": ["_info"],
}


def exported_metrics() -> dict[str, set[str]]:
    """Every sample name the service and the monitor export, with its label names.

    Built from the real metric classes on fresh registries. Labelled metrics have no
    samples before their first ``.labels()``, so names come from each collector's
    ``describe()`` (family name and type) and label names from ``_labelnames``
    (prometheus_client's attribute since 0.4). ``_created`` samples are left out: the
    multiprocess mode the service runs in does not export them.
    """
    catalogue: dict[str, set[str]] = {"up": set()}
    for build in (ServingMetrics, MonitorMetrics):
        registry = CollectorRegistry()
        build(registry)
        for collector in set(registry._names_to_collectors.values()):
            labels = set(getattr(collector, "_labelnames", ()))
            for family in collector.describe():
                for suffix in SAMPLE_SUFFIXES.get(family.type, [""]):
                    extra = {"le"} if suffix == "_bucket" else set()
                    catalogue[family.name + suffix] = labels | extra
    return catalogue


def seconds(duration: str) -> int:
    """A Prometheus duration ("90s", "5m", "1h30m") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|[smhdwy])", duration)
    assert "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return int(sum(int(n) * units[u] for n, u in parts))


SELECTOR = re.compile(r"\b([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
METRIC = re.compile(r"\b(trainsmart_\w+|up)\b(?!\s*\()")


def metrics_in(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


def labels_in(expr: str) -> set[str]:
    """Label names an expression selects on or groups by (``__name__`` left out)."""
    names = set()
    for _, matchers in SELECTOR.findall(expr):
        names |= set(MATCHER.findall(matchers))
    for grouping in GROUPING.findall(expr):
        names |= {n.strip() for n in grouping.split(",") if n.strip()}
    return names - {"__name__"}


def template_labels(text: str) -> set[str]:
    """Labels a Grafana legend (``{{model}}``) or an alert template (``$labels.model``) uses."""
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text)) | set(re.findall(r"\$labels\.(\w+)", text))
