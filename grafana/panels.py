"""Builders of Grafana dashboard JSON (schemaVersion 39) for grafana/board.py.

Plain dicts in Grafana's dashboard model, only the fields a panel needs; Grafana fills
in the rest on load. Every query goes through the datasource variable ``datasource``.
"""

from __future__ import annotations

from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
Panel = dict[str, Any]


def sel(metric: str, *matchers: str) -> str:
    """``metric{m1, m2}`` (the selector syntax, kept out of f-strings' brace escaping)."""
    return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric


def target(
    expr: str, legend: str = "", *, instant: bool = False, table: bool = False
) -> dict[str, Any]:
    """A Prometheus query; ``instant`` for one value per series, ``table`` for a table."""
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto"}
    if instant or table:
        t.update(instant=True, range=False)
    if table:
        t["format"] = "table"
    return t


def panel(kind: str, title: str, description: str, targets: list[dict[str, Any]]) -> Panel:
    for ref, t in zip("ABCDEFGH", targets, strict=False):
        t["refId"] = ref
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {},
    }


def timeseries(
    title: str, description: str, targets: list[dict[str, Any]], unit: str, **defaults: Any
) -> Panel:
    p = panel("timeseries", title, description, targets)
    p["fieldConfig"]["defaults"] = {"unit": unit, **defaults}
    p["options"] = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return p


def threshold_steps(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


def dashed(*steps: tuple[float | None, str]) -> dict[str, Any]:
    """Field defaults drawing ``steps`` as dashed threshold lines on a time series."""
    return {
        "thresholds": threshold_steps(*steps),
        "custom": {"thresholdsStyle": {"mode": "dashed"}},
    }


def state_timeline(title: str, description: str, targets: list[dict[str, Any]]) -> Panel:
    p = panel("state-timeline", title, description, targets)
    p["fieldConfig"]["defaults"] = {
        "color": {"mode": "thresholds"},
        "thresholds": threshold_steps((None, "green"), (1, "red")),
        "mappings": [
            {
                "type": "value",
                "options": {
                    "0": {"text": "no drift", "color": "green", "index": 0},
                    "1": {"text": "drift", "color": "red", "index": 1},
                },
            }
        ],
    }
    p["options"] = {"showValue": "never", "mergeValues": True, "rowHeight": 0.8}
    return p


def stat(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str = "short",
    text_mode: str = "value_and_name",
    **defaults: Any,
) -> Panel:
    p = panel("stat", title, description, targets)
    p["fieldConfig"]["defaults"] = {"unit": unit, **defaults}
    p["options"] = {
        "textMode": text_mode,
        "colorMode": "value" if "thresholds" in defaults else "none",
        "graphMode": "none",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    }
    return p


def colored(*steps: tuple[float | None, str]) -> dict[str, Any]:
    """Field defaults colouring a table cell's background by ``steps``."""
    return {
        "thresholds": threshold_steps(*steps),
        "custom": {"cellOptions": {"type": "color-background"}},
    }


def table(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    value: str,
    hide: list[str],
    desc: bool = False,
    **defaults: Any,
) -> Panel:
    """One row per series; sorted on ``value`` (ascending unless ``desc``)."""
    p = panel("table", title, description, targets)
    p["fieldConfig"]["defaults"] = dict(defaults)
    p["transformations"] = [
        {
            "id": "organize",
            "options": {
                "excludeByName": {name: True for name in ["Time", "__name__", *hide]},
                "renameByName": {"Value": value},
            },
        }
    ]
    p["options"] = {"showHeader": True, "sortBy": [{"displayName": value, "desc": desc}]}
    return p


def bargauge(title: str, description: str, targets: list[dict[str, Any]]) -> Panel:
    p = panel("bargauge", title, description, targets)
    p["fieldConfig"]["defaults"] = {"unit": "short", "min": 0, "decimals": 0}
    p["options"] = {
        "orientation": "horizontal",
        "displayMode": "basic",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    }
    return p


def alertlist(title: str, description: str) -> Panel:
    """Firing and pending trainsmart alerts: Prometheus's (via the datasource) and
    Grafana-managed ones, whichever evaluates them."""
    return {
        "type": "alertlist",
        "title": title,
        "description": description,
        "options": {
            "viewMode": "list",
            "groupMode": "default",
            "groupBy": [],
            "maxItems": 20,
            "sortOrder": 1,
            "dashboardAlerts": False,
            "alertName": "Trainsmart",
            "alertInstanceLabelFilter": "",
            "showInstances": True,
            "stateFilter": {
                "firing": True,
                "pending": True,
                "error": True,
                "noData": False,
                "normal": False,
            },
        },
    }


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


class Grid:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new line;
    a row header always starts one."""

    def __init__(self) -> None:
        self.panels: list[Panel] = []
        self._x = self._y = self._line_h = 0

    def row(self, title: str) -> None:
        self._newline()
        self._put(row(title), 24, 1)
        self._newline()

    def add(self, p: Panel, w: int, h: int) -> None:
        if self._x + w > 24:
            self._newline()
        self._put(p, w, h)

    def _put(self, p: Panel, w: int, h: int) -> None:
        p["id"] = len(self.panels) + 1
        p["gridPos"] = {"x": self._x, "y": self._y, "w": w, "h": h}
        self.panels.append(p)
        self._x += w
        self._line_h = max(self._line_h, h)

    def _newline(self) -> None:
        self._y += self._line_h
        self._x = self._line_h = 0
