"""The ``data:`` section: where the training rows come from and how they are split."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator

from training.settings.fields import Fraction, PosInt
from trainsmart.settings import Section


class FeatureConfig(Section):
    """One input column of a user dataset."""

    name: str
    """Column name, as it appears in the file and in requests."""
    kind: Literal["numeric", "categorical"] = "numeric"
    """numeric: scaled float; categorical: one-hot with an unknown bucket (numeric codes)."""


class DataSettings(Section):
    """Where the training rows come from and how they are split."""

    dataset: Literal["fair", "digits", "diabetes", "file", "images"] = "fair"
    """Shipped data: 'fair' (statsmodels' Fair affairs data, 6,366 rows, classify affairs >
    0), 'digits' (sklearn's 1,797 8x8 handwritten digits, 10 classes, an image task),
    'diabetes' (sklearn's 442-row diabetes progression, a regression task). User data:
    'file' (a CSV or Parquet table at `path`), 'images' (an image folder with one
    sub-folder per class, or an .npz file with arrays 'x' and 'y', at `path`)."""
    path: Path | None = None
    """CSV or Parquet file (dataset 'file'); image folder or .npz file (dataset 'images')."""
    features: list[FeatureConfig] = []
    """Feature columns and their kinds (required for dataset 'file')."""
    target: str | None = None
    """Target column (required for dataset 'file'): its distinct values are the classes, or
    the values to predict when task is 'regression'."""
    task: Literal["classification", "regression"] | None = None
    """What the target is: class labels or numbers to predict. None: the dataset's own
    task (regression for 'diabetes', classification for the others)."""
    image_size: list[PosInt] | None = None
    """[height, width] every image of an image folder is resized to (None: the size of the
    first image; every image must then have it)."""
    image_channels: Literal[1, 3] = 1
    """Channels of images read from a folder: 1 (grayscale) or 3 (RGB)."""
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
    drop_duplicates: bool = False
    """Remove exact duplicate rows (same feature values and target) before the split, so that
    a row cannot sit in both the training and the test split; the count dropped goes into the
    lineage rows as 'duplicates_dropped'. Off by default: the shipped Fair data holds many
    duplicates and its metrics were measured with them."""

    @model_validator(mode="after")
    def _check(self) -> DataSettings:
        if self.train_fraction + self.validation_fraction >= 1.0:
            raise ValueError(
                "data.train_fraction + data.validation_fraction must be below 1 "
                "so that a test split remains"
            )
        if self.dataset == "file" and (self.path is None or not self.features or not self.target):
            raise ValueError("data.dataset 'file' needs data.path, data.features and data.target")
        if self.dataset == "images" and self.path is None:
            raise ValueError("data.dataset 'images' needs data.path (an image folder or .npz)")
        if self.image_size is not None and len(self.image_size) != 2:
            raise ValueError(f"data.image_size is {self.image_size}; give [height, width]")
        return self

    def resolved_task(self) -> Literal["classification", "regression"]:
        """The task: `task` if set, else the dataset's own."""
        if self.task is not None:
            return self.task
        return "regression" if self.dataset == "diabetes" else "classification"
