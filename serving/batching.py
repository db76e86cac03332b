"""Adaptive batching: rows from concurrent requests share one ONNX Runtime call.

Request threads hand their cache-missing rows to one :class:`Batcher`; its
thread takes whatever is queued when it becomes free (up to ``max_batch_rows``),
optionally waits up to ``max_wait_s`` for more, runs the model once and hands
each request its own slice back. Under light load a request runs alone at
once (nothing else is queued), under heavy load batches grow by themselves:
that is the "adaptive" part, with no fixed timer on the request path.

Rows are only ever batched with rows for the same :class:`LoadedModel` object,
so a swap never mixes two versions in one call.

Example::

    batcher = Batcher(max_batch_rows=256, max_wait_s=0.0)
    probs = batcher.run(model, matrix)     # from any request thread
    batcher.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)


class Runnable(Protocol):
    def predict_proba(self, matrix: np.ndarray) -> np.ndarray: ...


@dataclass
class _Pending:
    model: Runnable
    matrix: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class Batcher:
    """One thread that runs queued requests' rows together, per model object."""

    def __init__(
        self,
        max_batch_rows: int,
        max_wait_s: float = 0.0,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.max_batch_rows = max_batch_rows
        self.max_wait_s = max_wait_s
        self.on_batch = on_batch
        """Called with (rows, requests) after each model call (metrics)."""
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def run(self, model: Runnable, matrix: np.ndarray) -> np.ndarray:
        """The model's outputs for ``matrix``, computed in a batch with other requests."""
        item = _Pending(model, matrix)
        with self._cond:
            if self._stopped:
                raise RuntimeError("the batcher is stopped")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="trainsmart-batcher", daemon=True
                )
                self._thread.start()
            self._queue.append(item)
            self._cond.notify()
        item.done.wait()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def stop(self) -> None:
        """Finish what is queued, then end the thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _take(self) -> list[_Pending]:
        """The next batch: queued items for the first item's model, up to max rows."""
        with self._cond:
            while not self._queue and not self._stopped:
                self._cond.wait()
            if not self._queue:
                return []
            if self.max_wait_s > 0:
                deadline = time.monotonic() + self.max_wait_s
                while self._rows_for(self._queue[0].model) < self.max_batch_rows:
                    left = deadline - time.monotonic()
                    if left <= 0 or self._stopped:
                        break
                    self._cond.wait(left)
            first = self._queue[0]
            batch, rows, kept = [first], len(first.matrix), deque[_Pending]()
            self._queue.popleft()
            while self._queue:
                item = self._queue.popleft()
                fits = rows + len(item.matrix) <= self.max_batch_rows
                if item.model is first.model and fits:
                    batch.append(item)
                    rows += len(item.matrix)
                else:
                    kept.append(item)
            self._queue.extendleft(reversed(kept))
            return batch

    def _rows_for(self, model: Runnable) -> int:
        return sum(len(item.matrix) for item in self._queue if item.model is model)

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            try:
                self._run(batch)
            except BaseException as exc:  # delivered to every waiting request
                for item in batch:
                    item.error = exc
                    item.done.set()

    def _run(self, batch: list[_Pending]) -> None:
        matrix = (
            batch[0].matrix
            if len(batch) == 1
            else np.concatenate([item.matrix for item in batch], axis=0)
        )
        out = batch[0].model.predict_proba(matrix)
        start = 0
        for item in batch:
            end = start + len(item.matrix)
            item.result = out[start:end]
            start = end
            item.done.set()
        if self.on_batch is not None:
            try:
                self.on_batch(len(matrix), len(batch))
            except Exception:  # metrics must never break predictions
                logger.exception("batch metrics callback failed")
