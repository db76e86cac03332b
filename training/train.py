"""From settings to a trained model: load, clean, split, fit the preprocessing, train.

Example::

    trained = train_model(scope)                # scope: settings.training_scope()
    trained.fit.best_epoch                      # 14
    trained.predict_proba(trained.encode(trained.splits.test.frame))   # [n, 2]

What comes next (export, parity, compression, evaluation, the bundle files) is
:func:`training.staging.stage_model`; registration is :mod:`training.pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training.data import Dataset, Part, Splits, clean, labels_to_str, load_dataset, split
from training.encoding import build_contract, encode_frame
from training.frameworks import EpochLog, FitResult, FrameworkName, get_framework
from training.preprocess import Preprocessor
from training.settings import TrainingScope
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import InputContract

Extra = tuple[pd.DataFrame, pd.Series | list[str], float]
"""Recent labelled rows for the training split: (raw feature frame, labels, repetitions)."""


@dataclass
class TrainedModel:
    """A fitted model and everything it was fitted from.

    ``model`` is a torch :class:`~training.frameworks.pytorch.models.Network` or a Keras
    model, as ``framework`` says; use :meth:`predict_proba` to stay framework-neutral.
    """

    model: Any
    fit: FitResult[Any]
    dataset: Dataset
    splits: Splits
    contract: InputContract
    train: Part
    """The training rows as given (split + recent rows once): contract and reference source."""
    rows: dict[str, int]
    framework: FrameworkName = "torch"
    """Which framework trained ``model`` (training.framework)."""

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return encode_frame(frame, self.contract)

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """Outputs of the trained model (not the ONNX export) for encoded rows:
        probabilities, or values ``[n, 1]`` for regression."""
        return get_framework(self.framework).predict(self.model, matrix)


def class_indices(target: pd.Series, classes: list[str]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(target) - set(lookup))
    if unknown:
        raise TrainingError(
            f"labels {unknown[:5]} are not classes of the dataset {classes}; "
            "fix the labels or the dataset target"
        )
    return np.array([lookup[v] for v in target], dtype=np.int64)


def encode_target(target: pd.Series, dataset: Dataset) -> np.ndarray:
    """What the loss compares with: class indices, or float target values (regression)."""
    if dataset.regression:
        values = pd.to_numeric(target, errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise TrainingError(
                "regression targets must be finite numbers; "
                f"{int((~np.isfinite(values)).sum())} are not"
            )
        return values
    return class_indices(target, dataset.classes)


def _with_extra(train: Part, dataset: Dataset, extra: Extra | None) -> tuple[Part, Part, int]:
    """(training rows once, training rows with recent rows repeated, recent row count)."""
    if extra is None:
        return train, train, 0
    frame, labels, weight = extra
    missing = [n for n in dataset.feature_names if n not in frame.columns]
    if missing:
        raise TrainingError(
            f"recent rows lack features {missing}; expected {dataset.feature_names}"
        )
    if len(frame) != len(labels):
        raise TrainingError(f"recent rows: {len(frame)} feature rows but {len(labels)} labels")
    values = pd.Series(list(labels), dtype=object)
    recent = Part(
        frame[dataset.feature_names].reset_index(drop=True),
        pd.to_numeric(values).astype("float64") if dataset.regression else labels_to_str(values),
    )
    encode_target(recent.target, dataset)  # raises on unknown labels
    repeats = max(1, round(weight))
    once = Part(
        pd.concat([train.frame, recent.frame], ignore_index=True),
        pd.concat([train.target, recent.target], ignore_index=True),
    )
    weighted = Part(
        pd.concat([train.frame] + [recent.frame] * repeats, ignore_index=True),
        pd.concat([train.target] + [recent.target] * repeats, ignore_index=True),
    )
    return once, weighted, len(recent)


def train_model(
    settings: TrainingScope,
    *,
    dataset: Dataset | None = None,
    extra: Extra | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainedModel:
    """Load and split the data, fit preprocessing on the training rows, train the MLP or
    CNN with the framework named by ``settings.training.framework``."""
    framework = settings.training.framework

    dataset = dataset if dataset is not None else load_dataset(settings.data)
    dataset, cleaned = clean(dataset, settings.data)
    splits = split(dataset, settings.data)
    once, weighted, n_recent = _with_extra(splits.train, dataset, extra)
    contract = dataset_contract(once.frame, dataset, settings.data.allow_missing)
    x_train = encode_frame(weighted.frame, contract)
    preprocessor = Preprocessor.fit(x_train, contract)
    result = get_framework(framework).fit(
        x_train,
        encode_target(weighted.target, dataset),
        encode_frame(splits.validation.frame, contract),
        encode_target(splits.validation.target, dataset),
        preprocessor,
        contract,
        settings.training,
        progress=progress,
        on_epoch=on_epoch,
    )
    rows = {**splits.rows(), **cleaned}
    if settings.training.oversample_minority and not dataset.regression:
        rows["train_oversampled"] = result.train_rows
    if extra is not None:
        rows.update(recent=n_recent, train_effective=len(weighted))
    return TrainedModel(result.model, result, dataset, splits, contract, once, rows, framework)


def dataset_contract(frame: pd.DataFrame, dataset: Dataset, nullable: bool) -> InputContract:
    """The contract of a model of ``dataset`` trained on ``frame`` (its training rows)."""
    return build_contract(
        frame,
        dataset.features,
        dataset.classes,
        nullable=nullable,
        task=dataset.task,
        image_shape=dataset.image_shape,
    )
