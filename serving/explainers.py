"""SHAP attributions over a loaded version's ONNX Runtime session (the /explain computation,
free of any web framework; ``serving/explain.py`` serves it).

shap is an optional extra: this module imports it only through :func:`import_shap`, on the
first /explain, never at the service's import.

- **Tables** are explained in the contract's column space: one attribution per raw
  feature. The model function is the session over the contract's float32 matrix (a string
  category as its index, what /predict feeds), so a masked feature takes a background
  row's value of the same column, a real category. Up to :data:`EXACT_MAX_FEATURES`
  features shap's ``Exact`` explainer computes exact Shapley values over every coalition;
  above it the ``Permutation`` explainer (antithetic permutations within
  ``serving.explain_max_evals`` model calls per row; unseeded, so two calls may differ
  slightly, each one additive). The base value is the mean output over the background:
  ``serving.explain_background_rows`` rows of the bundle's reference.parquet.
- **Images** (a contract with ``image_shape``): shap's ``Partition`` explainer with an
  ``Image`` masker (``serving.explain_max_evals`` calls, a hierarchy of pixel blocks): a
  masked pixel takes the background's mean image, which is also the base value's input.

Both are additive: base + sum of attributions == model output. shap sums the outputs it
was given in float64, so what remains is ONNX Runtime's float32 rounding between the batch
shap ran and the one that scored the row (:data:`ADDITIVITY_TOLERANCE`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from types import ModuleType
from typing import Any

import numpy as np

from serving.runtime import LoadedModel
from trainsmart.errors import InvalidInput, NotReady, TrainsmartError
from trainsmart.registry import Registry

EXACT_MAX_FEATURES = 10
"""Tables with up to this many features get exact Shapley values (2**features coalitions
per row, as shap's own 'auto' choice)."""
ADDITIVITY_TOLERANCE = 1e-6
"""Largest |base + sum(attributions) - output| expected (probabilities or values). shap's
sums are exact up to float64 rounding (about 1e-15 measured, bench/explain.py); what could
remain is ONNX Runtime's float32 rounding of one row at different batch sizes (below 1e-6
for outputs of order 1). A larger error is logged as a warning and returned as is."""
INSTALL = "pip install 'trainsmart[explain]'"


class ExplainUnavailable(TrainsmartError):
    """POST /explain on a service without the shap package (501)."""

    status_code = HTTPStatus.NOT_IMPLEMENTED

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"/explain needs the shap package, which this service cannot import ({reason}); "
            f"install it with {INSTALL} and restart the service"
        )


class ExplainTimeout(NotReady):
    """An explanation that ran past ``serving.explain_timeout_s`` (503)."""

    def __init__(self, timeout: float, rows: int) -> None:
        super().__init__(
            f"the explanation of {rows} row(s) took longer than {timeout:g} s "
            "(serving.explain_timeout_s) and was stopped; send fewer rows, retry when the "
            "service is less busy, or raise serving.explain_timeout_s"
        )


class ExplainWarming(NotReady):
    """The version's explainer (shap's import, the background, the compilation of shap's
    kernels: once per version and worker) was not ready within the timeout (503); the
    build goes on, so a retry finds it ready."""

    RETRY_AFTER_S = 5

    def __init__(self, name: str, version: str, timeout: float) -> None:
        super().__init__(
            f"the explainer of {name}:{version} is still being prepared in this worker "
            "(shap's import, the background sample and the compilation of shap's kernels: "
            f"once, seconds) and was not ready within {timeout:g} s "
            f"(serving.explain_timeout_s); retry in {self.RETRY_AFTER_S} s"
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.RETRY_AFTER_S)}


def import_shap() -> ModuleType:
    """The shap module, or ExplainUnavailable (501) naming the install command."""
    try:
        import shap  # lazy: an optional extra, pulls scikit-learn, numba and matplotlib
    except ImportError as exc:
        raise ExplainUnavailable(str(exc)) from exc
    return shap


@dataclass(frozen=True)
class Attribution:
    """The explanation of ``n`` rows: ``values`` ``[n, features, outputs]`` (an image's
    features are its pixels in contract order), ``base`` and ``output`` ``[n, outputs]``."""

    method: str
    values: np.ndarray
    base: np.ndarray
    output: np.ndarray

    @property
    def additivity_error(self) -> np.ndarray:
        """Per row: the largest |base + sum(values) - output| over the outputs."""
        error = self.base + self.values.sum(axis=1) - self.output
        return np.abs(error).max(axis=1)


def background(registry: Registry, model: LoadedModel, rows: int) -> np.ndarray:
    """At most ``rows`` rows of the version's reference sample (drawn with seed 0) as the
    model's float32 matrix, encoded by the contract as requests are."""
    frame = registry.get(model.name, model.version).reference()
    if len(frame) > rows:
        frame = frame.sample(n=rows, random_state=0)
    names = model.contract.feature_names
    missing = [n for n in names if n not in frame.columns]
    if frame.empty or missing:
        raise NotReady(
            f"{model.name}:{model.version}: the reference sample cannot be the explanation's "
            f"background ({'no rows' if frame.empty else f'it lacks {missing}'}); register "
            "the version again"
        )
    frame = frame[names].astype(object)
    records = frame.where(frame.notna(), None).to_dict("records")
    try:
        return model.contract.to_matrix(records, field_prefix="reference")
    except InvalidInput as exc:  # the bundle's fault, not the request's
        raise NotReady(
            f"{model.name}:{model.version}: the reference sample does not fit the contract "
            f"({exc.message}); register the version again"
        ) from exc


class VersionExplainer:
    """Explains rows of one loaded version against its background. Thread-safe: each call
    builds its own shap masker and explainer (shap's maskers keep per-call buffers)."""

    def __init__(self, shap: ModuleType, model: LoadedModel, bg: np.ndarray, max_evals: int):
        self.shap = shap
        self.model = model
        self.background = bg
        self.background_rows = len(bg)
        self.max_evals = max_evals
        contract = model.contract
        self.regression = contract.task == "regression"
        if contract.image_shape is not None:
            c, h, w = contract.image_shape
            self.shape: tuple[int, ...] = (h, w, c)
            mean = np.nanmean(bg, axis=0) if len(bg) else np.zeros(c * h * w)
            self.mean_image = np.nan_to_num(mean).reshape(c, h, w).transpose(1, 2, 0)
            self.method = "partition"
        else:
            self.shape = (len(contract.features),)
            exact = len(contract.features) <= EXACT_MAX_FEATURES
            self.method = "exact" if exact else "permutation"

    def _explainer(self, predict: Callable[[np.ndarray], np.ndarray]) -> Any:
        shap = self.shap
        if self.method == "partition":
            masker = shap.maskers.Image(self.mean_image.astype(np.float64), self.shape)
            return shap.explainers.Partition(predict, masker)
        masker = shap.maskers.Independent(self.background, max_samples=len(self.background))
        if self.method == "exact":
            return shap.explainers.Exact(predict, masker)
        return shap.explainers.Permutation(predict, masker)

    def _to_matrix(self, x: np.ndarray) -> np.ndarray:
        """shap's rows (images as [h, w, c]) -> the model's float32 [n, features]."""
        x = np.asarray(x, dtype=np.float32)
        if len(self.shape) == 3:
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x.reshape(len(x), -1))

    def outputs(self, matrix: np.ndarray) -> np.ndarray:
        """The model's outputs ``[n, outputs]`` (probabilities, or the value)."""
        return np.asarray(self.model.predict_proba(matrix), dtype=np.float64)

    def explain(self, matrix: np.ndarray, deadline: float) -> Attribution:
        """Attributions of ``matrix`` (validated float32 rows); raises :class:`Deadline` at
        the first model call past ``deadline`` (a ``time.monotonic()`` value)."""

        def predict(x: np.ndarray) -> np.ndarray:
            if time.monotonic() > deadline:
                raise Deadline
            out = self.outputs(self._to_matrix(x))
            return out[:, 0] if self.regression else out

        rows = matrix
        if len(self.shape) == 3:
            c, h, w = self.model.contract.image_shape or (0, 0, 0)
            rows = matrix.reshape(len(matrix), c, h, w).transpose(0, 2, 3, 1)
        kwargs: dict[str, Any] = {"silent": True}
        if self.method != "exact":
            kwargs["max_evals"] = max(self.max_evals, 2 * int(np.prod(self.shape)) + 1)
        explained = self._explainer(predict)(rows.astype(np.float64), **kwargs)
        n = len(matrix)
        features = int(np.prod(self.shape))
        values = np.asarray(explained.values, dtype=np.float64).reshape(n, features, -1)
        base = np.asarray(explained.base_values, dtype=np.float64).reshape(n, -1)
        values = self._pixels_in_contract_order(values)
        return Attribution(self.method, values, base, self.outputs(matrix))

    def _pixels_in_contract_order(self, values: np.ndarray) -> np.ndarray:
        """An image's [h, w, c]-ordered pixels back to the contract's [c, h, w] order."""
        if len(self.shape) != 3:
            return values
        h, w, c = self.shape
        n, _, k = values.shape
        return values.reshape(n, h, w, c, k).transpose(0, 3, 1, 2, 4).reshape(n, c * h * w, k)


class Deadline(Exception):
    """Raised inside the model function once serving.explain_timeout_s has passed, so that a
    computation the request gave up on stops at its next model call."""
