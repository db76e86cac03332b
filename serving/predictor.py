"""The request logic behind /predict and /feedback, free of any web framework.

Flow of one prediction request: validate against the contract -> look up
each row in the cache -> run ONNX Runtime on the misses only -> append every
row (hits included) to the input log -> answer with the version that
produced it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np

from serving.cache import PredictionCache, row_key
from serving.metrics import ServingMetrics
from serving.runtime import LoadedModel, ModelHolder
from serving.settings import ServingSettings
from trainsmart.errors import InvalidInput, PayloadTooLarge, TrainsmartError
from trainsmart.registry import InputContract, Registry
from trainsmart.state import InputLog


def _object(body: Any, expected: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput.for_field("body", expected, body)
    return body


def _prediction(contract: InputContract, probs: np.ndarray) -> dict[str, Any]:
    best = int(np.argmax(probs))
    return {
        "class": contract.classes[best],
        "probabilities": {c: float(p) for c, p in zip(contract.classes, probs, strict=True)},
    }


class Predictor:
    """Answers prediction and feedback requests for one model name.

    Example::

        predictor = Predictor(holder, cache, input_log, metrics, settings.serving, registry)
        predictor.predict({"instances": [{"age": 32, ...}]})
    """

    def __init__(
        self,
        holder: ModelHolder,
        cache: PredictionCache | None,
        input_log: InputLog,
        metrics: ServingMetrics,
        settings: ServingSettings,
        registry: Registry,
    ) -> None:
        self.holder = holder
        self.cache = cache
        self.input_log = input_log
        self.metrics = metrics
        self.settings = settings
        self.registry = registry
        self._contracts: dict[str, InputContract] = {}

    def predict(self, body: Any) -> dict[str, Any]:
        body = _object(body, 'an object {"instances": [{feature: value, ...}, ...]}')
        unknown = [k for k in body if k != "instances"]
        if unknown:
            raise InvalidInput(
                f"field '{unknown[0]}': unknown; the body takes only 'instances'", field=unknown[0]
            )
        if "instances" not in body:
            raise InvalidInput.for_field("instances", "a list of feature objects (missing)", None)
        rows = body["instances"]
        if isinstance(rows, list) and len(rows) > self.settings.max_rows_per_request:
            raise PayloadTooLarge(
                f"field 'instances': {len(rows)} rows is over the limit of "
                f"{self.settings.max_rows_per_request} per request; split the batch",
                field="instances",
            )
        model = self.holder.current()
        matrix = model.contract.to_matrix(rows)
        predictions, hits = self._predict_rows(model, matrix)
        request_id = uuid.uuid4().hex
        names = model.contract.feature_names
        logged = [{n: row[n] for n in names} for row in rows]
        self.input_log.append(request_id, model.name, model.version, logged, predictions, hits)
        for hit in (True, False):
            count = sum(1 for h in hits if h is hit)
            if count:
                self.metrics.predictions.labels(
                    model=model.name, version=model.version, cached=str(hit).lower()
                ).inc(count)
        return {
            "request_id": request_id,
            "model": model.name,
            "version": model.version,
            "predictions": [
                {**pred, "cached": hit} for pred, hit in zip(predictions, hits, strict=True)
            ],
        }

    def _predict_rows(
        self, model: LoadedModel, matrix: np.ndarray
    ) -> tuple[list[dict[str, Any]], list[bool]]:
        n = matrix.shape[0]
        results: list[dict[str, Any] | None] = [None] * n
        keys = [row_key(model.name, model.version, matrix[i]) for i in range(n)]
        if self.cache is not None:
            for i, key in enumerate(keys):
                results[i] = self.cache.get(key)
            hit_count = sum(r is not None for r in results)
            if hit_count:
                self.metrics.cache_requests.labels(result="hit").inc(hit_count)
            if n - hit_count:
                self.metrics.cache_requests.labels(result="miss").inc(n - hit_count)
        hits = [r is not None for r in results]
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            probs = model.predict_proba(matrix[missing])
            for row, i in enumerate(missing):
                prediction = _prediction(model.contract, probs[row])
                results[i] = prediction
                if self.cache is not None:
                    self.cache.put(keys[i], prediction)
        return [r for r in results if r is not None], hits

    def feedback(self, body: Any) -> dict[str, Any]:
        body = _object(body, 'an object {"request_id": "...", "label": ..., "row_index": 0}')
        allowed = {"request_id", "label", "row_index"}
        unknown = [k for k in body if k not in allowed]
        if unknown:
            raise InvalidInput(
                f"field '{unknown[0]}': unknown; feedback takes request_id, label, row_index",
                field=unknown[0],
            )
        request_id = body.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise InvalidInput.for_field(
                "request_id", "the request_id string from /predict", request_id
            )
        row_index = body.get("row_index", 0)
        if isinstance(row_index, bool) or not isinstance(row_index, int) or row_index < 0:
            raise InvalidInput.for_field("row_index", "a non-negative integer", row_index)
        if "label" not in body:
            raise InvalidInput.for_field("label", "the true class (missing)", None)
        logged = self.input_log.request(request_id)
        contract = self._contract(logged[0].model, logged[0].version) if logged else None
        label = body["label"]
        if contract is not None:
            label = contract.parse_label(label)
        elif isinstance(label, bool) or not isinstance(label, str | int | float):
            raise InvalidInput.for_field("label", "a class label", label)
        self.input_log.add_feedback(request_id, str(label), row_index)
        model = logged[0].model if logged else self.holder.name
        self.metrics.feedback.labels(model=model).inc()
        return {"request_id": request_id, "row_index": row_index, "label": str(label)}

    def _contract(self, name: str, version: str) -> InputContract | None:
        if version not in self._contracts:
            try:
                self._contracts[version] = self.registry.get(name, version).contract()
            except TrainsmartError:
                return None
        return self._contracts[version]

    def observe(self, endpoint: str, status: int, started: float) -> None:
        self.metrics.request_duration.labels(endpoint=endpoint, status=str(status)).observe(
            time.perf_counter() - started
        )
