"""The dashboard JSON: generated and fresh, laid out on the grid, every query valid PromQL
(Prometheus's own parser) over metrics and labels the code exports, and filtered by the
dashboard's variables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.grafana.promql import (
    GRAFANA,
    PENDING,
    ROOT,
    SCRAPE_LABELS,
    SELECTOR,
    Query,
    dashboard,
    dashboard_queries,
    exported_metrics,
    labels_in,
    metrics_in,
    promtool_parse,
    substitute,
    template_labels,
)


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return dashboard()


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def test_the_committed_json_is_what_board_py_generates() -> None:
    done = subprocess.run(
        [sys.executable, str(GRAFANA / "board.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{done.stderr.strip()} (make grafana)"


def test_panels_have_unique_ids_and_do_not_overlap(board: dict[str, Any]) -> None:
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in board["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {(g["x"] + dx, g["y"] + dy) for dx in range(g["w"]) for dy in range(g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine


def test_every_query_goes_through_the_datasource_variable(board: dict[str, Any]) -> None:
    (source,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert (source["name"], source["query"]) == ("datasource", "prometheus")
    uid = {"type": "prometheus", "uid": "${datasource}"}
    for p in panels(board):
        if p["type"] == "alertlist":
            continue
        assert p["datasource"] == uid and p["targets"], p["title"]
        assert all(t["datasource"] == uid for t in p["targets"]), p["title"]
    annotations = [a for a in board["annotations"]["list"] if "expr" in a]
    assert all(a["datasource"] == uid for a in annotations)


def test_variables_are_model_instance_and_feature(board: dict[str, Any]) -> None:
    queries = {v["name"]: v for v in board["templating"]["list"] if v["type"] == "query"}
    assert set(queries) == {"model", "instance", "feature"}
    for v in queries.values():
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*", v["name"]


def test_the_board_has_the_panels_of_issue_f(board: dict[str, Any]) -> None:
    queried = set().union(*(metrics_in(q.expr) for q in dashboard_queries(board)))
    required = {
        "trainsmart_drift_share",
        "trainsmart_feature_drift_score",
        "trainsmart_dataset_drift",
        "trainsmart_prediction_drift",
        "trainsmart_prediction_drift_score",
        "trainsmart_data_quality_share",
        "trainsmart_request_duration_seconds_count",
        "trainsmart_request_duration_seconds_bucket",
        "trainsmart_cache_requests_total",
        "trainsmart_model_info",
        "trainsmart_retrain_jobs_total",
        "trainsmart_live_metric",
        "trainsmart_last_promotion_timestamp_seconds",
        "trainsmart_rollbacks_total",
        # issue K: drift weighted by importance and estimated performance
        "trainsmart_feature_drift_severity",
        "trainsmart_feature_drifted",
        "trainsmart_weighted_drift_share",
        "trainsmart_estimated_metric",
        "trainsmart_estimated_metric_lower",
        "trainsmart_estimated_metric_upper",
        "trainsmart_estimated_metric_threshold",
    }
    assert required <= queried, f"not on the board: {required - queried}"
    assert any(p["type"] == "alertlist" for p in board["panels"])
    assert any(p["type"] == "state-timeline" for p in board["panels"])


def test_panel_queries_filter_by_the_variables(board: dict[str, Any]) -> None:
    """Each panel selector honours $instance, and $model where the metric has a model."""
    catalogue = {**PENDING, **exported_metrics()}
    for p in panels(board):
        for t in p.get("targets", []):
            for metric, matchers in SELECTOR.findall(t["expr"]):
                assert 'instance=~"$instance"' in matchers, f"{p['title']}: {metric}"
                if "model" in catalogue[metric]:
                    assert 'model=~"$model"' in matchers, f"{p['title']}: {metric}"


def test_every_query_is_valid_promql(board: dict[str, Any], promtool: str, tmp_path: Path) -> None:
    queries = list(dashboard_queries(board))
    for q in queries:
        assert "$" not in substitute(q.expr), q.where
    promtool_parse(promtool, [Query(q.where, substitute(q.expr)) for q in queries], tmp_path)


def test_a_broken_query_is_caught(promtool: str, tmp_path: Path) -> None:
    """The parse check itself: promtool refuses what Prometheus would refuse."""
    with pytest.raises(AssertionError, match="broken panel"):
        promtool_parse(promtool, [Query("broken panel", "sum by (model (up)")], tmp_path)


def test_queries_use_exported_metrics_and_their_labels(board: dict[str, Any]) -> None:
    catalogue = {**PENDING, **exported_metrics()}
    for q in dashboard_queries(board):
        metrics = metrics_in(q.expr)
        unknown = metrics - set(catalogue)
        assert not unknown, f"{q.where}: no such metric in the code: {unknown}"
        allowed = SCRAPE_LABELS.union(*(catalogue[m] for m in metrics))
        used = labels_in(q.expr) | template_labels(q.legend)
        assert used <= allowed, f"{q.where}: labels {used - allowed} not on {metrics}"


def test_no_panel_sorts_or_plots_raw_drift_scores(board: dict[str, Any]) -> None:
    """Raw scores mix p-values (lower: drift) with distances (higher: drift): panels rank
    features by the oriented severity or the 0/1 drifted gauge instead (issue K)."""
    for p in panels(board):
        for t in p.get("targets", []):
            assert "trainsmart_feature_drift_score" not in t["expr"], p["title"]
    (ranked,) = [p for p in panels(board) if p["title"] == "Most drifted features (last window)"]
    assert "trainsmart_feature_drift_severity" in ranked["targets"][0]["expr"]
    assert ranked["options"]["sortBy"] == [{"displayName": "severity", "desc": True}]
