# over 300 lines: the board is one declarative list of rows and panels, read top to bottom
"""Generate the trainsmart Grafana dashboard: grafana/dashboards/trainsmart.json.

Plain dicts (grafana/panels.py) rather than an SDK: the JSON is the product, and it is
checked where it matters. tests/grafana parses every query with Prometheus's own parser
and checks each metric and label against serving/metrics.py and monitoring/metrics.py.

Variables: ``datasource`` (any Prometheus, so Dashboards > Import works anywhere),
``model``, ``instance`` and ``feature`` (multi-valued, matched as regexes).

Run from the repository root (``make grafana``)::

    python grafana/board.py            # rewrite the JSON
    python grafana/board.py --check    # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from panels import (
    DS,
    Grid,
    alertlist,
    bargauge,
    colored,
    dashed,
    sel,
    stat,
    state_timeline,
    table,
    target,
    timeseries,
)

TARGET = Path(__file__).resolve().parent / "dashboards" / "trainsmart.json"
# Matchers of the dashboard's variables, and Grafana's rate window (at least 4 scrapes).
MOD, INST, FEAT = 'model=~"$model"', 'instance=~"$instance"', 'feature=~"$feature"'
R = "$__rate_interval"
REQUESTS = "trainsmart_request_duration_seconds_count"
LOOKUPS = "trainsmart_cache_requests_total"
MISS = 'result="miss"'
# A data link from a series that keeps its monitor's instance label to its newest report.
REPORT_LINK = {
    "title": "Latest drift report",
    "url": "http://${__field.labels.instance}/report",
    "targetBlank": True,
}


def m(metric: str, *matchers: str) -> str:
    """A monitor or service metric with a model label, on the chosen models and instances."""
    return sel(metric, MOD, INST, *matchers)


def i(metric: str, *matchers: str) -> str:
    """A metric without a model label, on the chosen instances."""
    return sel(metric, INST, *matchers)


def rate(selector: str) -> str:
    return f"rate({selector}[{R}])"


def share(numerator: str, total: str, by: str) -> str:
    """numerator / total by ``by``, 0 (not a gap) where the numerator has no series yet."""
    return (
        f"(sum by ({by}) ({rate(numerator)}) or sum by ({by}) ({rate(total)}) * 0)"
        f" / sum by ({by}) ({rate(total)})"
    )


def quantile(q: float, metric: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) ({rate(metric)}))"


def drift_panels(grid: Grid) -> None:
    grid.row("Drift (monitor)")
    p = timeseries(
        "Share of drifted features",
        "Share of features Evidently found drifted in the last complete window. At "
        "monitoring.drift_share (0.5 by default) the window counts as dataset drift; 0.3 is "
        "the TrainsmartDriftShareHigh early warning. Click a line for the drift report.",
        [
            target(
                f"max by (model, instance) ({m('trainsmart_drift_share')})",
                "{{model}}",
            )
        ],
        "percentunit",
        min=0,
        max=1,
        links=[REPORT_LINK],
        **dashed((None, "green"), (0.3, "orange"), (0.5, "red")),
    )
    grid.add(p, 12, 8)
    p = state_timeline(
        "Drift state per window",
        "Dataset drift (Evidently's verdict on the window's inputs) and prediction drift "
        "(the window's predictions against those on the reference sample). Drift in "
        "monitoring.consecutive_windows windows in a row starts a retrain.",
        [
            target(f"max by (model) ({m('trainsmart_dataset_drift')})", "{{model}} inputs"),
            target(
                f"max by (model) ({m('trainsmart_prediction_drift')})",
                "{{model}} predictions",
            ),
        ],
    )
    grid.add(p, 12, 8)
    p = table(
        "Most drifted features (last window)",
        "Each feature's drift against its threshold, oriented alike for every method: "
        "threshold / p-value for p-value tests (K-S, chi-square, Z), distance / threshold "
        "for distances (PSI, Wasserstein, Jensen-Shannon); 1 is the threshold, at or above "
        "it the feature drifted (red). Sorted most drifted first. Raw scores and thresholds: "
        "trainsmart_feature_drift_score and trainsmart_feature_drift_threshold.",
        [target(m("trainsmart_feature_drift_severity", FEAT), table=True)],
        "severity",
        hide=["job", "instance", "model"],
        desc=True,
        **colored((None, "green"), (1, "red")),
    )
    grid.add(p, 8, 10)
    p = timeseries(
        "Feature drift severity over time",
        "The same oriented statistic per feature and window (1, dashed, is the threshold); "
        "pick features with the feature variable.",
        [
            target(
                f"max by (model, feature) ({m('trainsmart_feature_drift_severity', FEAT)})",
                "{{feature}}",
            )
        ],
        "short",
        min=0,
        **dashed((None, "green"), (1, "red")),
    )
    grid.add(p, 10, 10)
    p = alertlist(
        "Firing and pending alerts",
        "trainsmart alerts from Prometheus (grafana/prometheus/alerts.yml) or their "
        "Grafana-managed copies; the ones labelled action=retrain start a retrain through "
        "Alertmanager's webhook.",
    )
    grid.add(p, 6, 10)
    p = timeseries(
        "Prediction drift score",
        "Evidently's statistic of the window's predicted classes (or values) against the "
        "model's predictions on its reference sample.",
        [
            target(
                f"max by (model) ({m('trainsmart_prediction_drift_score')})",
                "{{model}}",
            )
        ],
        "short",
    )
    grid.add(p, 8, 8)
    p = timeseries(
        "Data quality: share of bad rows per feature",
        "Share of the last window's rows per feature that are missing, outside the training "
        "range (numeric) or of a category unseen in training. Only non-zero shares are drawn.",
        [
            target(
                f"max by (model, feature, kind) ({m('trainsmart_data_quality_share', FEAT)}) > 0",
                "{{feature}} {{kind}}",
            )
        ],
        "percentunit",
        min=0,
    )
    grid.add(p, 10, 8)
    p = stat(
        "Monitor",
        "Time since the last window was compared (a window closes after monitoring.window_rows "
        "rows, or monitoring.window_seconds), its rows, and windows compared in the range.",
        [
            target(
                f"time() - max by (model) ({m('trainsmart_drift_last_check_timestamp_seconds')})",
                "{{model}} since last check",
            ),
            target(
                f"max by (model) ({m('trainsmart_drift_window_rows')})",
                "{{model}} rows in last window",
            ),
            target(
                f"sum by (model) (increase({m('trainsmart_drift_checks_total')}[$__range]))",
                "{{model}} windows compared",
            ),
        ],
        decimals=0,
    )
    p["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byFrameRefID", "options": "A"},
            "properties": [{"id": "unit", "value": "s"}],
        },
    ]
    grid.add(p, 6, 8)


def harm_panels(grid: Grid) -> None:
    grid.row("Harm: drift weighted by importance, estimated performance (monitor)")
    p = timeseries(
        "Importance-weighted drift share",
        "Permutation importance of the drifted features over that of all compared features "
        "(the version's metrics.json), beside the unweighted share of drifted features. A "
        "shift of the features the model relies on weighs most; one of features it ignores, "
        "little. Versions without importance (older bundles, image models) have no weighted "
        "line. 0.5 (dashed) is the TrainsmartImportantFeaturesDrifted alert.",
        [
            target(
                f"max by (model, version) ({m('trainsmart_weighted_drift_share')})",
                "{{version}} weighted by importance",
            ),
            target(f"max by (model) ({m('trainsmart_drift_share')})", "{{model}} unweighted"),
        ],
        "percentunit",
        min=0,
        max=1,
        **dashed((None, "green"), (0.5, "red")),
    )
    grid.add(p, 12, 8)
    p = state_timeline(
        "Drifted features per window",
        "Evidently's per-feature verdict (trainsmart_feature_drifted, 0 or 1) in each window, "
        "whatever the method (p-value or distance); pick features with the feature variable.",
        [
            target(
                f"max by (model, feature) ({m('trainsmart_feature_drifted', FEAT)})",
                "{{feature}}",
            )
        ],
    )
    grid.add(p, 12, 8)
    p = timeseries(
        "Estimated vs realized metric",
        "The last window's metric estimated without labels from the calibrated probabilities "
        "(CBPE) with its 95% band (dotted), the harm threshold (the version's test metric "
        "minus monitoring.estimated_drop, dashed: below it the window counts as estimated "
        "harm, the TrainsmartEstimatedHarm alert), and the realized metric on the latest "
        "rows labelled through /feedback (lags: labels arrive later).",
        [
            target(
                f"max by (model, version, metric) ({m('trainsmart_estimated_metric')})",
                "{{version}} estimated {{metric}}",
            ),
            target(
                f"max by (model, version, metric) ({m('trainsmart_estimated_metric_lower')})",
                "{{version}} {{metric}} band low",
            ),
            target(
                f"max by (model, version, metric) ({m('trainsmart_estimated_metric_upper')})",
                "{{version}} {{metric}} band high",
            ),
            target(
                f"max by (model, version, metric) ({m('trainsmart_estimated_metric_threshold')})",
                "{{version}} {{metric}} harm threshold",
            ),
            target(
                f"max by (model, version, metric) ({m('trainsmart_live_metric')})",
                "{{version}} realized {{metric}} (feedback labels)",
            ),
        ],
        "percentunit",
    )
    p["fieldConfig"]["overrides"] = [
        line_style("band (low|high)", "dot"),
        line_style("harm threshold", "dash"),
    ]
    grid.add(p, 24, 9)


def line_style(name_regex: str, style: str) -> dict[str, Any]:
    """An override drawing the series whose name matches ``name_regex`` dotted or dashed."""
    return {
        "matcher": {"id": "byRegexp", "options": f".*{name_regex}.*"},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": style, "dash": [4, 4]}},
        ],
    }


def serving_panels(grid: Grid) -> None:
    grid.row("Serving (service)")
    p = timeseries(
        "Requests per second",
        "Prediction and feedback requests by endpoint, whatever their status.",
        [target(f"sum by (endpoint) ({rate(i(REQUESTS))})", "{{endpoint}}")],
        "reqps",
        min=0,
    )
    grid.add(p, 8, 8)
    p = timeseries(
        "Rows predicted per second",
        "Rows by production version, and whether the cache answered them.",
        [
            target(
                f"sum by (model, version, cached) ({rate(m('trainsmart_predictions_total'))})",
                "{{version}} cached={{cached}}",
            )
        ],
        "suffix: rows/s",
        min=0,
    )
    grid.add(p, 8, 8)
    p = timeseries(
        "Error share",
        "Share of requests answered 5xx (the service failed: model not loaded, input log not "
        "writable) and 4xx (refused input: each answer names the field), by endpoint.",
        [
            target(
                share(i(REQUESTS, 'status=~"5.."'), i(REQUESTS), "endpoint"),
                "{{endpoint}} 5xx",
            ),
            target(
                share(i(REQUESTS, 'status=~"4.."'), i(REQUESTS), "endpoint"),
                "{{endpoint}} 4xx",
            ),
        ],
        "percentunit",
        min=0,
        **dashed((None, "green"), (0.05, "red")),
    )
    grid.add(p, 8, 8)
    bucket = i("trainsmart_request_duration_seconds_bucket")
    p = timeseries(
        "Latency p50 / p99",
        "From the trainsmart_request_duration_seconds histogram, by endpoint; the dashed "
        "line is the TrainsmartHighLatency threshold.",
        [
            target(quantile(0.5, bucket, "endpoint"), "{{endpoint}} p50"),
            target(quantile(0.99, bucket, "endpoint"), "{{endpoint}} p99"),
        ],
        "s",
        min=0,
        **dashed((None, "green"), (0.5, "red")),
    )
    grid.add(p, 6, 8)
    batch = i("trainsmart_batch_rows_bucket")
    p = timeseries(
        "Rows per ONNX Runtime call",
        "Batch sizes when adaptive batching is on (serving.batching); empty otherwise.",
        [
            target(quantile(0.5, batch, "instance"), "{{instance}} p50"),
            target(quantile(0.99, batch, "instance"), "{{instance}} p99"),
        ],
        "short",
        min=0,
    )
    grid.add(p, 6, 8)
    p = timeseries(
        "Cache hit ratio",
        "1 - misses / look-ups per instance (the miss series exists from the first look-up, "
        "the hit series only from the first hit). A new version starts with an empty cache.",
        [
            target(
                f"1 - sum by (instance) ({rate(i(LOOKUPS, MISS))}) "
                f"/ sum by (instance) ({rate(i(LOOKUPS))})",
                "{{instance}}",
            )
        ],
        "percentunit",
        min=0,
        max=1,
    )
    grid.add(p, 6, 8)
    p = timeseries(
        "Cache health",
        "Failed cache operations and evictions per second, and 1 while a backend's circuit "
        "breaker is open (requests bypass the cache; predictions still work).",
        [
            target(
                f"sum by (backend) ({rate(i('trainsmart_cache_errors_total'))})",
                "{{backend}} errors/s",
            ),
            target(
                f"sum by (backend) ({rate(i('trainsmart_cache_evictions_total'))})",
                "{{backend}} evictions/s",
            ),
            target(
                f"max by (backend) ({i('trainsmart_cache_breaker_open')})",
                "{{backend}} breaker open",
            ),
        ],
        "short",
        min=0,
    )
    grid.add(p, 6, 8)


def lifecycle_panels(grid: Grid) -> None:
    grid.row("Versions and retraining")
    p = stat(
        "Production version",
        "The version the service serves (trainsmart_model_info == 1). The time series carry "
        "markers when it changes, and for promotions, rollbacks and retrain jobs.",
        [
            target(
                f"max by (model, version) ({m('trainsmart_model_info')}) == 1",
                "{{model}} {{version}}",
            )
        ],
        text_mode="name",
    )
    grid.add(p, 4, 6)
    p = stat(
        "Candidate",
        "The candidate version loaded beside production, and whether production requests "
        "are mirrored to it (shadow mode).",
        [
            target(
                f"max by (model, version, shadow) ({m('trainsmart_candidate_info')}) == 1",
                "{{model}} {{version}} (shadow: {{shadow}})",
            )
        ],
        text_mode="name",
        noValue="none loaded",
    )
    grid.add(p, 5, 6)
    p = bargauge(
        "Retrain job transitions in the range",
        "Jobs that reached each status (queued, running, succeeded, rejected: the challenger "
        "lost the gate, failed); `trainsmart jobs` lists them.",
        [
            target(
                f"sum by (status) (increase({i('trainsmart_retrain_jobs_total')}[$__range]))",
                "{{status}}",
                instant=True,
            )
        ],
    )
    grid.add(p, 5, 6)
    p = bargauge(
        "Alertmanager webhook calls in the range",
        "Calls of the monitor's /webhook/alertmanager by result: a drift alert routed there "
        "asks for a retrain, which the monitor's policy may still refuse (cooldown, a job "
        "already running).",
        [
            target(
                f"sum by (result) (increase({i('trainsmart_webhook_requests_total')}[$__range]))",
                "{{result}}",
                instant=True,
            )
        ],
    )
    grid.add(p, 5, 6)
    p = timeseries(
        "Retrain jobs by status",
        "Jobs in each status as the monitor last saw them.",
        [target(f"sum by (status) ({i('trainsmart_retrain_jobs_by_status')})", "{{status}}")],
        "short",
        min=0,
        decimals=0,
    )
    grid.add(p, 5, 6)
    p = timeseries(
        "Live metric per version (feedback labels)",
        "Each version's metric on its latest labelled rows (monitoring.live_window_rows): "
        "the prediction logged with the row against the label sent to /feedback. accuracy: "
        "higher is better; mae: lower is better.",
        [
            target(
                f"max by (model, version, metric) ({m('trainsmart_live_metric')})",
                "{{version}} {{metric}}",
            )
        ],
        "short",
    )
    grid.add(p, 12, 8)
    p = timeseries(
        "Labelled rows per version",
        "Rows behind each version's live metric: few rows make a noisy metric.",
        [
            target(
                f"max by (model, version) ({m('trainsmart_labelled_rows')})",
                "{{version}}",
            )
        ],
        "short",
        min=0,
        decimals=0,
    )
    grid.add(p, 6, 8)
    p = timeseries(
        "Feedback labels and shadow rows per second",
        "Labels received on /feedback, and production rows mirrored to the shadow candidate "
        "by result (ok, error, dropped: the mirror queue was full).",
        [
            target(
                f"sum by (model) ({rate(m('trainsmart_feedback_total'))})",
                "{{model}} feedback",
            ),
            target(
                f"sum by (version, result) ({rate(m('trainsmart_shadow_predictions_total'))})",
                "shadow {{version}} {{result}}",
            ),
        ],
        "short",
        min=0,
    )
    grid.add(p, 6, 8)


def variables() -> list[dict[str, Any]]:
    def query(name: str, label: str, definition: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DS,
            "query": definition,
            "definition": definition,
            "refresh": 2,
            "sort": 1,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {},
            "options": [],
        }

    return [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "options": [],
            "refresh": 1,
        },
        query(
            "model",
            "Model",
            'label_values({__name__=~"trainsmart_model_info|trainsmart_drift_share"}, model)',
        ),
        query(
            "instance",
            "Instance",
            'label_values(up{job=~"trainsmart-service|trainsmart-monitor"}, instance)',
        ),
        query(
            "feature",
            "Feature",
            f"label_values({sel('trainsmart_feature_drift_score', MOD)}, feature)",
        ),
    ]


def markers() -> list[dict[str, Any]]:
    def prometheus(name: str, color: str, expr: str, title: str) -> dict[str, Any]:
        # step 60s with 2m windows: each change shows up in consecutive steps, which Grafana
        # merges into one marker.
        return {
            "name": name,
            "datasource": DS,
            "enable": True,
            "iconColor": color,
            "expr": expr,
            "step": "60s",
            "titleFormat": title,
            "textFormat": "",
            "tagKeys": "",
            "useValueForTime": False,
        }

    info = sel("trainsmart_model_info", MOD)
    return [
        {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        },
        prometheus(
            "Version served",
            "blue",
            f"(max by (model, version) ({info}) == 1) unless on (model, version) "
            f"(max by (model, version) ({info} offset 2m) == 1)",
            "{{model}} {{version}} now served",
        ),
        prometheus(
            "Promotions",
            "green",
            "max by (model) (changes("
            f"{sel('trainsmart_last_promotion_timestamp_seconds', MOD)}[2m])) > 0",
            "{{model}} promoted",
        ),
        prometheus(
            "Rollbacks",
            "red",
            f"max by (model) (increase({sel('trainsmart_rollbacks_total', MOD)}[2m])) > 0",
            "{{model}} rolled back",
        ),
        prometheus(
            "Retrain jobs",
            "purple",
            "sum by (status) (increase(trainsmart_retrain_jobs_total"
            '{status=~"queued|succeeded|rejected|failed"}[2m])) > 0',
            "retrain job {{status}}",
        ),
    ]


def build() -> dict[str, Any]:
    grid = Grid()
    drift_panels(grid)
    harm_panels(grid)
    serving_panels(grid)
    lifecycle_panels(grid)
    return {
        "id": None,
        "uid": "trainsmart",
        "title": "trainsmart: drift, serving, versions",
        "description": "The trainsmart service and drift monitor (generated by grafana/board.py).",
        "tags": ["trainsmart", "mlops"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "schemaVersion": 39,
        "version": 1,
        "links": [],
        "annotations": {"list": markers()},
        "templating": {"list": variables()},
        "panels": grid.panels,
    }


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the JSON is stale")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run `make grafana`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
