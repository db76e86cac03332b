"""Prediction drift: the classes (or values) the model answered in a window against the
ones it gives on its own reference sample.

The reference predictions are computed once per version, by running the bundle's
``model.onnx`` in ONNX Runtime on ``reference.parquet`` (encoded by the contract,
exactly as serving encodes requests). The window's predictions are the ones logged
with each served row. The comparison is Evidently's test for the column type:
categorical for classes, numeric for regression values (method and threshold
overridable under the name ``prediction``).

Example::

    reference = PredictionReference.from_bundle(bundle)
    drift = reference.compare([row.prediction for row in window], options)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitoring.drift.detector import column_drift
from monitoring.drift.results import FeatureDrift

if TYPE_CHECKING:
    import pandas as pd

    from monitoring.drift.options import DriftOptions
    from trainsmart.registry.bundle import Bundle

PREDICTION = "prediction"
"""The name overrides use for the prediction column (drift_methods: {prediction: psi})."""


def _answer(prediction: dict[str, Any], regression: bool) -> Any:
    if regression:
        value = prediction.get("value")
        return float(value) if isinstance(value, int | float) else None
    label = prediction.get("class")
    return None if label is None else str(label)


@dataclass(frozen=True)
class PredictionReference:
    """The model's answers on its reference sample."""

    values: pd.Series
    regression: bool

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> PredictionReference:
        # lazy: onnxruntime, numpy and pandas load only when a version's reference is scored
        import numpy as np
        import onnxruntime as ort  # lazy: onnxruntime is heavy, needed once per version
        import pandas as pd  # lazy: as above

        contract = bundle.contract()
        reference = bundle.reference()[contract.feature_names]
        rows = [
            {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in reference.to_dict(orient="records")
        ]
        matrix = contract.to_matrix(rows)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(bundle.model_path), options, providers=["CPUExecutionProvider"]
        )
        (outputs,) = session.run([contract.output_name], {contract.input_name: matrix})
        answers = [
            _answer(contract.prediction(row), contract.task == "regression") for row in outputs
        ]
        regression = contract.task == "regression"
        return cls(pd.Series(answers, dtype="float64" if regression else object), regression)

    def compare(
        self, predictions: list[dict[str, Any]], options: DriftOptions
    ) -> FeatureDrift | None:
        """Drift of the window's logged predictions; None when there are none to compare."""
        import pandas as pd  # lazy: pandas loads only once a window is compared

        answers = [_answer(p, self.regression) for p in predictions]
        current = pd.Series(answers, dtype="float64" if self.regression else object).dropna()
        if current.empty or self.values.dropna().empty:
            return None
        kind = "numeric" if self.regression else "categorical"
        return column_drift(
            self.values,
            current,
            kind,
            options.methods.get(PREDICTION),
            options.thresholds.get(PREDICTION),
        )
