"""Render the board's main panels to a PNG from a live Prometheus (Grafana cannot run here).

Each plotted line is one series of the panel's own query, read out of
dashboards/trainsmart.json, run as a range query against the Prometheus given;
``$model``, ``$instance`` and ``$feature`` are set as in the board's defaults.
The picture in the README is this rendering of the live test's Prometheus
(``TRAINSMART_BOARD_PNG=docs/board.png TRAINSMART_BOARD_PACE_S=1 pytest
tests/grafana/test_live_loop.py`` keeps it).

Usage::

    python grafana/render.py http://127.0.0.1:9090 docs/board.png
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BOARD = HERE / "dashboards" / "trainsmart.json"
PANELS = (
    "Share of drifted features",
    "Feature drift severity over time",
    "Prediction drift score",
    "Requests per second",
    "Latency p50 / p99",
    "Cache hit ratio",
    "Live metric per version (feedback labels)",
    "Retrain jobs by status",
)
VALUES = {"model": "fair", "instance": ".*", "feature": ".*", "__rate_interval": "10s",
          "__interval": "5s", "__range": "5m"}  # fmt: skip


def _panels(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            if inner.get("targets"):
                found[inner["title"]] = inner
    return found


def _expr(expr: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], expr)


def _range(prometheus: str, expr: str, start: float, end: float) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": 1})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{query}", timeout=30) as r:
        result: list[dict[str, Any]] = json.load(r)["data"]["result"]
    return result


def render(prometheus: str, out: Path, minutes: float = 5.0) -> Path:
    """Draw the PANELS over the last ``minutes`` into ``out`` (a 4 x 2 grid)."""
    # lazy: matplotlib only when a PNG of the board is asked for
    from matplotlib.figure import Figure

    board = json.loads(BOARD.read_text())
    panels = _panels(board)
    end = time.time()
    start = end - minutes * 60
    figure = Figure(figsize=(14, 12), layout="constrained")
    axes = figure.subplots(4, 2).flatten()
    for ax, title in zip(axes, PANELS, strict=True):
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        for target in panels[title]["targets"]:
            for series in _range(prometheus, _expr(target["expr"], VALUES), start, end):
                points = [(float(t) - end, float(v)) for t, v in series["values"]]
                label = ", ".join(f"{k}={v}" for k, v in series["metric"].items()) or title
                ax.plot([p[0] for p in points], [p[1] for p in points], label=label[:40])
        ax.set_xlabel("seconds before the end")
        if ax.lines:
            ax.legend(fontsize=6, loc="upper left")
    figure.suptitle("trainsmart board (rendered from Prometheus with the board's own queries)")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(render(sys.argv[1], Path(sys.argv[2])))
