"""From settings to a registered version: load, split, fit, export, check, register.

Example::

    registry = Registry(settings.paths.model_store, open_database(settings))
    outcome = train_and_register(settings, registry)
    outcome.bundle.version                    # "v1"
    outcome.metrics["serving"]["accuracy"]    # test accuracy of model.onnx

:func:`train_model` stops before export (tests, benchmarks);
:func:`stage_model` (in :mod:`training.staging`) writes the bundle files without
registering them, which is what retraining needs to gate a challenger first.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.data import Dataset, Part, Splits, clean, labels_to_str, load_dataset, split
from trainsmart.errors import TrainingError
from trainsmart.registry.bundle import Bundle, Lineage
from trainsmart.registry.contract import InputContract

if TYPE_CHECKING:
    from collections.abc import Callable

    from training.frameworks import Framework
    from training.staging import Staged
    from training.trainer import EpochLog, FitResult
    from trainsmart.registry.store import Registry
    from trainsmart.settings import Settings

Extra = tuple[pd.DataFrame, pd.Series | list[str], float]
"""Recent labelled rows for the training split: (raw feature frame, labels, repetitions)."""


@dataclass
class TrainedModel:
    """A fitted model and everything it was fitted from.

    ``model`` is a torch :class:`training.models.Network` or a Keras model, as
    ``framework`` says; use :meth:`predict_proba` to stay framework-neutral.
    """

    model: Any
    fit: FitResult[Any]
    dataset: Dataset
    splits: Splits
    contract: InputContract
    train: Part
    """The training rows as given (split + recent rows once): contract and reference source."""
    rows: dict[str, int]
    framework: Framework = "torch"
    """Which framework trained ``model`` (training.framework)."""

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        from training.encoding import encode_frame

        return encode_frame(frame, self.contract)

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """Outputs of the trained model (not the ONNX export) for encoded rows:
        probabilities, or values ``[n, 1]`` for regression."""
        from training.frameworks import predict_proba

        return predict_proba(self.framework, self.model, matrix)


@dataclass
class TrainOutcome:
    """What :func:`train_and_register` produced."""

    bundle: Bundle
    metrics: dict[str, dict[str, float]]
    model: Any
    """The trained torch or Keras model (``trained.framework`` says which)."""
    trained: TrainedModel
    serving_variant: str


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
    settings: Settings,
    *,
    dataset: Dataset | None = None,
    extra: Extra | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainedModel:
    """Load and split the data, fit preprocessing on the training rows, train the MLP or
    CNN with the framework named by ``settings.training.framework``."""
    from training.encoding import encode_frame
    from training.frameworks import fit_function
    from training.preprocess import Preprocessor

    framework = settings.training.framework

    dataset = dataset if dataset is not None else load_dataset(settings.data)
    dataset, cleaned = clean(dataset, settings.data)
    splits = split(dataset, settings.data)
    once, weighted, n_recent = _with_extra(splits.train, dataset, extra)
    contract = dataset_contract(once.frame, dataset, settings.data.allow_missing)
    x_train = encode_frame(weighted.frame, contract)
    preprocessor = Preprocessor.fit(x_train, contract)
    result = fit_function(framework)(
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
    from training.encoding import build_contract

    return build_contract(
        frame,
        dataset.features,
        dataset.classes,
        nullable=nullable,
        task=dataset.task,
        image_shape=dataset.image_shape,
    )


def code_version() -> str:
    """``trainsmart <version> git <short sha>`` ('unknown' outside a git checkout)."""
    import trainsmart

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"trainsmart {trainsmart.__version__} git {sha or 'unknown'}"


def register_staged(
    settings: Settings,
    registry: Registry,
    staged: Staged,
    *,
    parent_version: str | None = None,
    trigger: str = "manual",
    job_id: int | None = None,
    tuning: dict[str, Any] | None = None,
) -> Bundle:
    """Register the bundle files written by :func:`training.staging.stage_model`."""
    trained = staged.trained
    lineage = Lineage(
        dataset_fingerprint=trained.dataset.fingerprint(),
        parent_version=parent_version,
        hyperparameters=settings.training.model_dump(mode="json"),
        code_version=code_version(),
        trigger=trigger,
        job_id=job_id,
        rows=trained.rows,
        framework=trained.framework,
        serving_variant=staged.serving_variant,
        tuning=tuning or {},
    )
    version = next_version(registry.versions(settings.model_name))
    stale = staged.report_version != version
    if tuning and staged.tuning is None:
        staged.tuning, stale = dict(tuning), True
    if stale:  # the report names the wrong version or lacks the tuning summary
        from training.staging import write_staged_report

        write_staged_report(staged, settings.model_name, version, figures=False)
    return registry.register(settings.model_name, staged.path, lineage)


def next_version(existing: list[str]) -> str:
    """The version :meth:`Registry.register` gives next, after ``existing`` (oldest first).

    The report names it before registration; a registration of the same model by another
    process in between would leave the report one version behind.
    """
    return f"v{int(existing[-1][1:]) + 1 if existing else 1}"


def train_and_register(
    settings: Settings,
    registry: Registry,
    *,
    dataset: Dataset | None = None,
    extra: Extra | None = None,
    parent_version: str | None = None,
    trigger: str = "manual",
    job_id: int | None = None,
    reference_frame: pd.DataFrame | None = None,
    progress: bool = True,
    extra_metrics: dict[str, dict[str, float]] | None = None,
    tuning: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Train, export, check parity, quantize, evaluate and register a new version.

    The new version is not promoted; that is the caller's decision. ``extra_metrics``
    (e.g. ``{"cv": ...}`` from :mod:`training.cv`) is stored in the bundle's metrics.json.
    """
    from training.staging import stage_model

    trained = train_model(settings, dataset=dataset, extra=extra, progress=progress)
    with tempfile.TemporaryDirectory(prefix="trainsmart-staging-") as tmp:
        staged = stage_model(
            settings,
            trained,
            Path(tmp),
            reference_frame=reference_frame,
            extra_metrics=extra_metrics,
        )
        bundle = register_staged(
            settings,
            registry,
            staged,
            parent_version=parent_version,
            trigger=trigger,
            job_id=job_id,
            tuning=tuning,
        )
    return TrainOutcome(bundle, staged.metrics, trained.model, trained, staged.serving_variant)
