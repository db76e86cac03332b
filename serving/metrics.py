"""Prometheus metrics of the service, created on the registry passed in.

Inside BentoML workers ``PROMETHEUS_MULTIPROC_DIR`` is set before the service
is built, so these metrics are written to the multiprocess files that
BentoML's ``/metrics`` aggregates; gauges declare how workers combine.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
EXPLAIN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServingMetrics:
    """The service's own metrics (BentoML adds its generic HTTP ones beside them)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.predictions = Counter(
            "trainsmart_predictions_total",
            "Rows predicted, by model, version and whether the cache answered.",
            ["model", "version", "cached"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "trainsmart_request_duration_seconds",
            "Time to answer a prediction or feedback request, by endpoint and status code.",
            ["endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_rows = Histogram(
            "trainsmart_batch_rows",
            "Rows per ONNX Runtime call when adaptive batching is on (serving.batching).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=registry,
        )
        self.cache_requests = Counter(
            "trainsmart_cache_requests_total",
            "Prediction cache look-ups by result (hit or miss).",
            ["result"],
            registry=registry,
        )
        # Filled by the cache backends (serving/cache/, serving/cache/redis_cache.py).
        self.cache_errors = Counter(
            "trainsmart_cache_errors_total",
            "Cache operations (get or put) that failed: connection refused, timeout, server "
            "error or an unreadable value; the request bypassed the cache. Operations skipped "
            "while the breaker is open are not counted (see trainsmart_cache_breaker_open).",
            ["backend"],
            registry=registry,
        )
        self.cache_evictions = Counter(
            "trainsmart_cache_evictions_total",
            "Entries dropped to make room, by backend (memory: LRU evictions of this worker; "
            "redis: not counted here, read evicted_keys from Redis INFO stats).",
            ["backend"],
            registry=registry,
        )
        self.cache_breaker_open = Gauge(
            "trainsmart_cache_breaker_open",
            "1 while the cache backend's circuit breaker is open or half-open (requests bypass "
            "the cache), 0 while closed; the max over live workers.",
            ["backend"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.model_info = Gauge(
            "trainsmart_model_info",
            "1 for the model version this worker serves, 0 for versions it served before.",
            ["model", "version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.feedback = Counter(
            "trainsmart_feedback_total",
            "Ground-truth labels received, by model.",
            ["model"],
            registry=registry,
        )
        self.model_swaps = Counter(
            "trainsmart_model_swaps_total",
            "Production versions loaded by this worker without restart.",
            ["model"],
            registry=registry,
        )
        self.shadow_predictions = Counter(
            "trainsmart_shadow_predictions_total",
            "Rows of production requests mirrored to the shadow candidate, by result: ok "
            "(its prediction was stored), error (the candidate or the shadow table failed) or "
            "dropped (the mirror queue was full, serving.shadow_queue_size).",
            ["model", "version", "result"],
            registry=registry,
        )
        self.candidate_info = Gauge(
            "trainsmart_candidate_info",
            "1 for the candidate version this worker has loaded beside production (shadow: "
            "whether production requests are mirrored to it), 0 for earlier candidates.",
            ["model", "version", "shadow"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.inference_rows = Counter(
            "trainsmart_inference_rows_total",
            "Rows run through ONNX Runtime, by the device that ran them (cpu or cuda, chosen "
            "by the call's row count: serving.device, serving.gpu_min_rows). Counted only by "
            "workers holding a CUDA session; without one every row runs on the CPU.",
            ["model", "device"],
            registry=registry,
        )
        self.explain_requests = Counter(  # POST /explain (serving/explain.py)
            "trainsmart_explain_requests",
            "POST /explain requests, by model, version ('-' when the request named none that "
            "is loaded) and status code.",
            ["model", "version", "status"],
            registry=registry,
        )
        self.explain_duration = Histogram(
            "trainsmart_explain_duration_seconds",
            "Time to answer a POST /explain request (any status), by model and version.",
            ["model", "version"],
            buckets=EXPLAIN_BUCKETS,
            registry=registry,
        )
        self._served: dict[str, set[str]] = {}
        self._candidates: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def serving(self, model: str, version: str) -> None:
        """Mark ``version`` as the one served (and the earlier ones as not); count swaps."""
        with self._lock:
            seen = self._served.setdefault(model, set())
            for old in seen - {version}:
                self.model_info.labels(model=model, version=old).set(0)
            self.model_info.labels(model=model, version=version).set(1)
            if seen and version not in seen:
                self.model_swaps.labels(model=model).inc()
            seen.add(version)

    def candidate(self, model: str, version: str | None, shadow: bool) -> None:
        """Mark the loaded candidate (None: no candidate) and set earlier ones to 0."""
        with self._lock:
            current = None if version is None else (model, version, str(shadow).lower())
            for old in self._candidates - {current}:
                self.candidate_info.labels(*old).set(0)
            if current is not None:
                self.candidate_info.labels(*current).set(1)
                self._candidates.add(current)
