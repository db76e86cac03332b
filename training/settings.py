"""Settings for data, training and retraining (sections of ``trainsmart.settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

PosInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class FeatureConfig(BaseModel):
    """One input column of a user dataset."""

    name: str
    """Column name, as it appears in the file and in requests."""
    kind: Literal["numeric", "categorical"] = "numeric"
    """numeric: scaled float; categorical: one-hot with an unknown bucket (numeric codes)."""


class DataSettings(BaseModel):
    """Where the training rows come from and how they are split."""

    dataset: Literal["fair", "file"] = "fair"
    """'fair': statsmodels' Fair affairs data (6,366 rows, target affairs > 0); 'file': `path`."""
    path: Path | None = None
    """CSV or Parquet file, when dataset is 'file'."""
    features: list[FeatureConfig] = []
    """Feature columns and their kinds (required for dataset 'file')."""
    target: str | None = None
    """Target column (required for dataset 'file'); its distinct values are the classes."""
    train_fraction: Fraction = 0.70
    """Share of rows in the training split (stratified)."""
    validation_fraction: Fraction = 0.15
    """Share of rows in the validation split (early stopping); the rest is the test split."""
    seed: int = 42
    """Seed of the split and of the reference sample."""
    reference_size: PosInt = 1000
    """Rows of training inputs kept in the bundle as the drift reference sample."""
    allow_missing: bool = True
    """Accept null feature values at serving time; they are imputed inside the model graph."""

    @model_validator(mode="after")
    def _check(self) -> DataSettings:
        if self.train_fraction + self.validation_fraction >= 1.0:
            raise ValueError(
                "data.train_fraction + data.validation_fraction must be below 1 "
                "so that a test split remains"
            )
        if self.dataset == "file" and (self.path is None or not self.features or not self.target):
            raise ValueError("data.dataset 'file' needs data.path, data.features and data.target")
        return self


class RetrainSettings(BaseModel):
    """How a challenger is trained from logged, labelled traffic and gated."""

    holdout_fraction: Fraction = 0.4
    """Share of the recent labelled rows held out to compare champion and challenger."""
    min_labelled_rows: PosInt = 60
    """Fewer labelled logged rows than this: the job is rejected without training."""
    recent_rows: PosInt = 5000
    """At most this many most recent labelled rows are used."""
    recent_weight: Annotated[float, Field(ge=1.0)] = 3.0
    """Each recent labelled training row counts this many times (oversampling)."""
    metric: Literal["accuracy", "f1", "roc_auc"] = "accuracy"
    """Metric compared on the holdout."""
    margin: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.01
    """Promote only if challenger metric >= champion metric + margin (a negative margin
    accepts a challenger that is at most that much worse)."""
    reference: Literal["recent", "training"] = "recent"
    """Reference sample of the challenger: the recent inputs it was validated on, or its
    training inputs."""
    reference_rows: PosInt | None = None
    """Recent logged inputs in the challenger's reference sample (reference 'recent');
    default: the rows of the windows that triggered the retrain
    (monitoring.window_rows x monitoring.consecutive_windows)."""


class TrainingSettings(BaseModel):
    """The PyTorch MLP and its training loop."""

    hidden_sizes: list[PosInt] = [64, 32]
    """Widths of the hidden layers."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    """Dropout probability after each hidden layer."""
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3
    """AdamW learning rate."""
    weight_decay: Annotated[float, Field(ge=0.0)] = 1e-4
    """AdamW weight decay."""
    batch_size: PosInt = 128
    """Rows per training mini-batch."""
    max_epochs: PosInt = 60
    """Upper bound on epochs; early stopping usually ends sooner."""
    patience: PosInt = 6
    """Epochs without validation-loss improvement before stopping (best epoch restored)."""
    seed: int = 42
    """Seed of weights, shuffling and dropout; with it a rerun gives the same metrics."""
    class_weights: bool = True
    """Weight the loss by inverse class frequency (imbalanced targets)."""
    quantize: bool = True
    """Also build an int8 dynamic-quantized variant."""
    max_metric_drop: Annotated[float, Field(ge=0.0)] = 0.01
    """Serve the int8 variant only if its test accuracy is at most this far below fp32."""
    parity_tolerance: Annotated[float, Field(gt=0.0)] = 1e-4
    """Max abs difference of probabilities allowed between PyTorch and ONNX."""
    retrain: RetrainSettings = RetrainSettings()
