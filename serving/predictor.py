# over 300 lines: the whole request path (validate, cache, model, log) kept in one place
"""The request logic behind /predict, /v2 infer and /feedback, free of any web framework.

Flow of one prediction request: validate against the contract -> look up
each row in the cache -> run ONNX Runtime on the misses only -> append every
row (hits included) to the input log -> mirror the rows to the shadow candidate
(if any; off the request path) -> answer with the version that produced it.
Every protocol goes through ``Predictor.predict_rows``. A request may pin the
candidate version (``"version"`` in /predict, ``/v2/models/NAME/versions/V``);
its rows are then predicted, cached and logged under the candidate's version.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.batching import Batcher
from serving.cache import PredictionCache, row_key
from serving.logwrites import LogWriter
from serving.metrics import ServingMetrics
from serving.runtime import LoadedModel, ModelHolder
from serving.settings import ServingSettings
from serving.shadow import ShadowMirror
from trainsmart.errors import InvalidInput, PayloadTooLarge, TrainsmartError, VersionNotLoaded
from trainsmart.names import check_name
from trainsmart.registry import InputContract, Registry
from trainsmart.state import InputLog


def _object(body: Any, expected: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput.for_field("body", expected, body)
    return body


def _column_field(row: int, feature: str) -> str:
    return f"columns.{feature}[{row}]"


@dataclass(frozen=True)
class Served:
    """One answered request: its logged id, the model that answered, one entry per row."""

    request_id: str
    model: LoadedModel
    predictions: list[dict[str, Any]]
    hits: list[bool]


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
        shadow: ShadowMirror | None = None,
    ) -> None:
        self.holder = holder
        self.cache = cache
        self.input_log = input_log
        self.log_writer = LogWriter(input_log)  # grouped commits on the event loop
        self.metrics = metrics
        self.settings = settings
        self.registry = registry
        self.shadow = shadow
        self.remote_state = input_log.db.dialect != "sqlite"
        """The input log is written over the network (PostgreSQL): requests wait on it."""
        """Mirrors production requests to a shadow candidate; None: no shadowing here."""
        self._contracts: dict[str, InputContract] = {}
        self.batcher = (
            Batcher(
                settings.max_batch_rows,
                settings.max_batch_wait_ms / 1000.0,
                on_batch=lambda rows, _: metrics.batch_rows.observe(rows),
            )
            if settings.batching
            else None
        )
        """Adaptive batching of cache misses across requests (serving.batching)."""

    def model(self, version: str | None = None) -> LoadedModel:
        """The production model, or the candidate if ``version`` pins it; VersionNotLoaded
        (404) for any other version."""
        model = self.holder.current()
        if version is None or version == model.version:
            return model
        candidate = self.holder.candidate()
        if candidate is not None and candidate.model.version == version:
            return candidate.model
        raise VersionNotLoaded(
            model.name, version, model.version, candidate.model.version if candidate else None
        )

    def predict(self, body: Any) -> dict[str, Any]:
        body = _object(
            body,
            'an object {"instances": [{feature: value, ...}, ...]} or '
            '{"columns": {feature: [value, ...], ...}}, optionally with "version"',
        )
        unknown = [k for k in body if k not in ("instances", "columns", "version")]
        if unknown:
            raise InvalidInput(
                f"field '{unknown[0]}': unknown; the body takes 'instances' or 'columns', "
                "and optionally 'version'",
                field=unknown[0],
            )
        version = body.get("version")
        if version is not None:
            check_name(version, "version")
        if "instances" in body and "columns" in body:
            raise InvalidInput(
                "field 'columns': send either 'instances' (rows) or 'columns', not both",
                field="columns",
            )
        if "columns" in body:
            model = self.model(version)
            rows = self._columns(body["columns"], model.contract)
            served = self.predict_rows(rows, model=model, field="columns", locate=_column_field)
        elif "instances" in body:
            served = self.predict_rows(body["instances"], model=self.model(version))
        else:
            raise InvalidInput.for_field("instances", "a list of feature objects (missing)", None)
        return {
            "request_id": served.request_id,
            "model": served.model.name,
            "version": served.model.version,
            "predictions": [
                {**pred, "cached": hit}
                for pred, hit in zip(served.predictions, served.hits, strict=True)
            ],
        }

    def _columns(self, columns: Any, contract: InputContract) -> list[dict[str, Any]]:
        """Rows from ``{"columns": {feature: [values]}}``: every feature, equal lengths."""
        if not isinstance(columns, dict):
            raise InvalidInput.for_field("columns", "an object {feature: [value, ...]}", columns)
        names = contract.feature_names
        for name in names:
            if name not in columns:
                raise InvalidInput.for_field(
                    f"columns.{name}", "a list of values (the column is missing)", None
                )
        for name, values in columns.items():
            if name not in names:
                raise InvalidInput(
                    f"field 'columns.{name}': unknown feature; expected only {names}",
                    field=f"columns.{name}",
                )
            if not isinstance(values, list):
                raise InvalidInput.for_field(f"columns.{name}", "a list of values", values)
        n = len(columns[names[0]])
        for name in names:
            if len(columns[name]) != n:
                raise InvalidInput(
                    f"field 'columns.{name}': expected {n} values like 'columns.{names[0]}', "
                    f"got {len(columns[name])}; every column must have the same length",
                    field=f"columns.{name}",
                )
        self._check_rows(n, "columns")
        return [{name: columns[name][i] for name in names} for i in range(n)]

    def _check_rows(self, n: int, field: str) -> None:
        limit = self.settings.max_rows_per_request
        if n > limit:
            raise PayloadTooLarge(
                f"field '{field}': {n} rows is over the limit of {limit} per request "
                "(serving.max_rows_per_request); split the batch",
                field=field,
            )

    def predict_rows(
        self,
        rows: Any,
        *,
        model: LoadedModel | None = None,
        field: str = "instances",
        locate: Callable[[int, str], str] | None = None,
    ) -> Served:
        """Validate, predict (cache first) and log ``rows``; the path every protocol shares.

        ``model`` defaults to the production model; ``field`` and ``locate`` name the
        request's fields in errors (see ``InputContract.to_matrix``).
        """
        if isinstance(rows, list):
            self._check_rows(len(rows), field)
        model = self.model() if model is None else model
        rows = model.contract.expand_rows(rows, field)
        matrix = model.contract.to_matrix(rows, field_prefix=field, locate=locate)
        predictions, hits = self._predict_rows(model, matrix)
        request_id = uuid.uuid4().hex
        names = model.contract.feature_names
        logged = [{n: row[n] for n in names} for row in rows]

        def logged_rows_follow() -> None:  # only for rows that are in the input log
            self._mirror(request_id, model, logged)
            for hit in (True, False):
                count = sum(1 for h in hits if h is hit)
                if count:
                    self.metrics.predictions.labels(
                        model=model.name, version=model.version, cached=str(hit).lower()
                    ).inc(count)

        self.log_writer.append(
            request_id, model.name, model.version, logged, predictions, hits, logged_rows_follow
        )
        return Served(request_id, model, predictions, hits)

    def _mirror(self, request_id: str, model: LoadedModel, rows: list[dict[str, Any]]) -> None:
        """Hand a production request's rows to the shadow candidate, if shadow mode is on
        (requests pinned to the candidate itself are not mirrored)."""
        candidate = self.holder.candidate()
        if (
            self.shadow is not None
            and candidate is not None
            and candidate.shadow
            and candidate.model.version != model.version
        ):
            self.shadow.submit(request_id, candidate.model, rows)

    def _predict_rows(
        self, model: LoadedModel, matrix: np.ndarray
    ) -> tuple[list[dict[str, Any]], list[bool]]:
        n = matrix.shape[0]
        results: list[dict[str, Any] | None] = [None] * n
        keys = [row_key(model.name, model.version, matrix[i]) for i in range(n)]
        if self.cache is not None:
            results = list(self.cache.get_many(keys))  # one round trip for Redis
            hit_count = sum(r is not None for r in results)
            if hit_count:
                self.metrics.cache_requests.labels(result="hit").inc(hit_count)
            if n - hit_count:
                self.metrics.cache_requests.labels(result="miss").inc(n - hit_count)
        hits = [r is not None for r in results]
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            rows = matrix[missing]
            outputs = (
                model.predict_proba(rows) if self.batcher is None else self.batcher.run(model, rows)
            )
            fresh: list[tuple[str, dict[str, Any]]] = []
            for row, i in enumerate(missing):
                prediction = model.contract.prediction(outputs[row])
                results[i] = prediction
                fresh.append((keys[i], prediction))
            if self.cache is not None:
                self.cache.put_many(fresh)
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
        # not a bool; below 2**63: the input log looks rows up as 64-bit SQLite integers
        if type(row_index) is not int or not 0 <= row_index < 2**63:
            raise InvalidInput.for_field("row_index", "an integer from 0 to 2**63-1", row_index)
        if "label" not in body:
            raise InvalidInput.for_field("label", "the true class or value (missing)", None)
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

    @contextmanager
    def timed(self, endpoint: str) -> Iterator[None]:
        """Time a request into trainsmart_request_duration_seconds with its final status
        (the error's status if a TrainsmartError escapes, 500 for anything else)."""
        started = time.perf_counter()
        status = 200
        try:
            yield
        except TrainsmartError as exc:
            status = int(exc.status_code)
            raise
        except Exception:
            status = 500
            raise
        finally:
            self.metrics.request_duration.labels(endpoint=endpoint, status=str(status)).observe(
                time.perf_counter() - started
            )
