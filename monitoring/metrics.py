"""Prometheus metrics of the drift monitor, on a registry passed in (no global state).

Example::

    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    metrics.observe("fair-affairs", result, now=time.time())
    registry.get_sample_value("trainsmart_drift_share", {"model": "fair-affairs"})
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from monitoring.drift.gauges import FeatureDriftGauges
from monitoring.drift.results import DriftResult
from monitoring.estimate.metrics import EstimateMetrics
from trainsmart.state.jobs import JobStatus


class MonitorMetrics:
    """Drift gauges per model and feature, check and retrain-job counters."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.drift_share = Gauge(
            "trainsmart_drift_share",
            "Share of features Evidently found drifted in the last complete window.",
            ["model"],
            registry=registry,
        )
        # per feature {model, version, feature, method} and the weighted share (issue K)
        self.features = FeatureDriftGauges(registry)
        self.dataset_drift = Gauge(
            "trainsmart_dataset_drift",
            "1 if Evidently flagged dataset drift in the last window, else 0.",
            ["model"],
            registry=registry,
        )
        self.window_rows = Gauge(
            "trainsmart_drift_window_rows",
            "Rows of logged inputs in the last window compared with the reference.",
            ["model"],
            registry=registry,
        )
        self.last_check = Gauge(
            "trainsmart_drift_last_check_timestamp_seconds",
            "Unix time of the last completed drift check of a window.",
            ["model"],
            registry=registry,
        )
        self.quality_rows = Gauge(
            "trainsmart_data_quality_rows",
            "Rows of the last window per feature that are missing, outside the training range "
            "(numeric) or of a category unseen in training, by kind.",
            ["model", "feature", "kind"],
            registry=registry,
        )
        self.quality_share = Gauge(
            "trainsmart_data_quality_share",
            "Share of the last window's rows per feature that are missing, out of range or "
            "unseen, by kind (0 to 1).",
            ["model", "feature", "kind"],
            registry=registry,
        )
        self.prediction_drift_score = Gauge(
            "trainsmart_prediction_drift_score",
            "Evidently's drift statistic of the predicted classes (or values) in the last "
            "window against the model's predictions on its reference sample.",
            ["model"],
            registry=registry,
        )
        self.prediction_drift = Gauge(
            "trainsmart_prediction_drift",
            "1 if the predictions of the last window drifted, else 0.",
            ["model"],
            registry=registry,
        )
        self.live_metric = Gauge(
            "trainsmart_live_metric",
            "Each version's metric on its most recent labelled rows (feedback labels vs the "
            "logged predictions): accuracy (higher is better) or mae (lower is better).",
            ["model", "version", "metric"],
            registry=registry,
        )
        self.labelled_rows = Gauge(
            "trainsmart_labelled_rows",
            "Labelled rows behind trainsmart_live_metric, per version.",
            ["model", "version"],
            registry=registry,
        )
        self.checks = Counter(
            "trainsmart_drift_checks",
            "Windows compared with the reference by the drift monitor.",
            ["model"],
            registry=registry,
        )
        self.leader = Gauge(
            "trainsmart_monitor_leader",
            "1 while this monitor holds the model's lease and acts, 0 while it stands by.",
            ["model"],
            registry=registry,
        )
        self.retrain_jobs = Counter(
            "trainsmart_retrain_jobs",
            "Retrain job transitions seen by the monitor, by status reached "
            "(queued, running, succeeded, rejected, failed).",
            ["status"],
            registry=registry,
        )
        for status in JobStatus:
            self.retrain_jobs.labels(status=status.value)
        self.estimates = EstimateMetrics(registry)  # trainsmart_estimated_metric* (issue K)
        # retraining, webhook and rollback (issue E): see the block at the end of the class
        self._init_retrain_metrics(registry)

    def observe(
        self, model: str, result: DriftResult, now: float | None = None, version: str = ""
    ) -> None:
        """Record one window's drift result for ``model`` (served by ``version``)."""
        self.drift_share.labels(model=model).set(result.drift_share)
        self.dataset_drift.labels(model=model).set(1.0 if result.dataset_drift else 0.0)
        self.window_rows.labels(model=model).set(result.rows)
        self.features.observe(model, version, result)
        for feature, quality in result.quality.items():
            counts = {
                "missing": quality.missing,
                "out_of_range": quality.out_of_range,
                "unseen": quality.unseen,
            }
            for kind, share in quality.shares().items():
                self.quality_rows.labels(model=model, feature=feature, kind=kind).set(counts[kind])
                self.quality_share.labels(model=model, feature=feature, kind=kind).set(share)
        if result.prediction is not None:
            self.prediction_drift_score.labels(model=model).set(result.prediction.score)
            self.prediction_drift.labels(model=model).set(float(result.prediction.drifted))
        self.last_check.labels(model=model).set(time.time() if now is None else now)
        self.checks.labels(model=model).inc()

    def job_transition(self, status: JobStatus | str) -> None:
        """Count one retrain job reaching ``status``."""
        self.retrain_jobs.labels(status=JobStatus(status).value).inc()

    # -- retraining, webhook and rollback (issue E) ----------------------------------------
    def _init_retrain_metrics(self, registry: CollectorRegistry) -> None:
        self.jobs_by_status = Gauge(
            "trainsmart_retrain_jobs_by_status",
            "Retrain jobs in the jobs table by status (queued, running, succeeded, rejected, "
            "failed), as the monitor last read it.",
            ["status"],
            registry=registry,
        )
        for status in JobStatus:
            self.jobs_by_status.labels(status=status.value)
        self.last_promotion = Gauge(
            "trainsmart_last_promotion_timestamp_seconds",
            "Unix time of the last promotion of the model (audit log); time since it: "
            "time() - trainsmart_last_promotion_timestamp_seconds.",
            ["model"],
            registry=registry,
        )
        self.rollbacks = Counter(
            "trainsmart_rollbacks",
            "Automatic rollbacks by the monitor: a promoted version's live labelled metric "
            "was worse than its predecessor's by more than monitoring.rollback_tolerance.",
            ["model"],
            registry=registry,
        )
        self.webhook_requests = Counter(
            "trainsmart_webhook_requests",
            "Calls of POST /webhook/alertmanager by result: started (a job was queued), "
            "duplicate, refused (cooldown, job in flight, waiting for labels), ignored (no "
            "firing alert for the model), invalid, unauthorized, disabled, error.",
            ["result"],
            registry=registry,
        )
        for result in WEBHOOK_RESULTS:
            self.webhook_requests.labels(result=result)

    def job_counts(self, counts: Mapping[str, int]) -> None:
        """Set trainsmart_retrain_jobs_by_status from the jobs table (missing statuses: 0)."""
        for status in JobStatus:
            self.jobs_by_status.labels(status=status.value).set(int(counts.get(status.value, 0)))

    def promoted_at(self, model: str, ts: float) -> None:
        self.last_promotion.labels(model=model).set(ts)

    def rollback(self, model: str) -> None:
        """Count one automatic rollback of ``model``."""
        self.rollbacks.labels(model=model).inc()

    def webhook_request(self, result: str) -> None:
        """Count one webhook call ending in ``result`` (one of WEBHOOK_RESULTS)."""
        self.webhook_requests.labels(result=result).inc()


WEBHOOK_RESULTS = (
    "started",
    "duplicate",
    "refused",
    "ignored",
    "invalid",
    "unauthorized",
    "disabled",
    "error",
)
"""Values of the ``result`` label of trainsmart_webhook_requests_total."""
