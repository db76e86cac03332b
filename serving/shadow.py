"""Mirror production requests to the shadow candidate, off the request path.

Why: a candidate is best judged on the live traffic production answers, at no risk
to production. ``Predictor.predict_rows`` calls ``ShadowMirror.submit`` once a
production request's rows are logged; ``submit`` puts the rows on a bounded queue
and returns at once. One daemon thread per process takes them, encodes the rows
with the candidate's own contract, runs the candidate and writes its predictions
to the ``shadow`` table (``trainsmart.state.ShadowLog``) under the request's id and
row indexes, beside the champion's rows in ``inputs``.

Shadow work never reaches a response: its predictions are not returned, not
cached, and its failures are caught here. Each mirrored row is counted in
``trainsmart_shadow_predictions_total{result}``: ``ok``, ``error`` (the candidate
raised, or the shadow table could not be written) or ``dropped`` (the queue was
full: the candidate is slower than the traffic). Failures are logged once per
burst: the first of a run of failures, then one line with the count when the run
ends, so a broken candidate cannot flood the log.

Example::

    mirror = ShadowMirror(ShadowLog(db), metrics, capacity=1000)
    mirror.start()
    mirror.submit(request_id, candidate_model, rows)   # never blocks, never raises
    mirror.drain(timeout_s=5)                          # tests: wait until written
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from serving.metrics import ServingMetrics
from serving.runtime import LoadedModel
from trainsmart.state import ShadowLog

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Mirror:
    request_id: str
    model: LoadedModel
    rows: list[dict[str, Any]]


class _Burst:
    """Logs the first failure of a run, and how many there were once the run ends."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._failures = 0
        self._lock = threading.Lock()

    def failed(self, detail: str) -> None:
        with self._lock:
            self._failures += 1
            first = self._failures == 1
        if first:
            logger.warning(
                "%s: %s; production answers are unaffected; further failures are counted "
                "(trainsmart_shadow_predictions_total) and summed up when they stop",
                self.what,
                detail,
            )

    def succeeded(self) -> None:
        with self._lock:
            failures, self._failures = self._failures, 0
        if failures:
            logger.warning("%s: recovered after %d failures", self.what, failures)


class ShadowMirror:
    """A bounded queue of production requests and one thread running them on the candidate."""

    def __init__(self, shadow_log: ShadowLog, metrics: ServingMetrics, capacity: int) -> None:
        self.shadow_log = shadow_log
        self.metrics = metrics
        self.capacity = capacity
        self.counts = {"ok": 0, "error": 0, "dropped": 0}
        """Rows mirrored by this process, by result (also in the Prometheus counter)."""
        self._queue: queue.Queue[_Mirror] = queue.Queue(maxsize=capacity)
        self._pending = 0
        self._idle = threading.Condition()
        self._counts_lock = threading.Lock()
        self._errors = _Burst("shadow candidate failed")
        self._drops = _Burst(
            "shadow mirror queue full (serving.shadow_queue_size), mirrors dropped"
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def depth(self) -> int:
        """Requests waiting to be mirrored."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the worker thread (once; later calls do nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trainsmart-shadow", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def submit(self, request_id: str, model: LoadedModel, rows: list[dict[str, Any]]) -> bool:
        """Queue ``rows`` of a served request for ``model``; False if dropped. Never raises."""
        try:
            with self._idle:
                self._queue.put_nowait(_Mirror(request_id, model, rows))
                self._pending += 1
        except queue.Full:
            self._count(model, "dropped", len(rows))
            self._drops.failed(f"{self.capacity} requests already wait")
            return False
        except Exception as exc:  # shadow work must never fail a request
            self._count(model, "error", len(rows))
            self._errors.failed(f"could not queue a mirror ({type(exc).__name__}: {exc})")
            return False
        self._drops.succeeded()
        return True

    def drain(self, timeout_s: float) -> bool:
        """Wait until every queued mirror has been handled; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._handle(item)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _handle(self, item: _Mirror) -> None:
        model, n = item.model, len(item.rows)
        try:
            contract = model.contract
            outputs = model.predict_proba(contract.to_matrix(item.rows))
            predictions = [contract.prediction(output) for output in outputs]
            self.shadow_log.append(item.request_id, model.name, model.version, predictions)
        except Exception as exc:  # the candidate, its contract or the database
            self._count(model, "error", n)
            self._errors.failed(f"{model.name}:{model.version}: {type(exc).__name__}: {exc}")
            return
        self._count(model, "ok", n)
        self._errors.succeeded()

    def _count(self, model: LoadedModel, result: str, rows: int) -> None:
        with self._counts_lock:
            self.counts[result] += rows
        self.metrics.shadow_predictions.labels(
            model=model.name, version=model.version, result=result
        ).inc(rows)
