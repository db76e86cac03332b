"""A k-fold ensemble served as one model: the K fold networks of cross-validation in one
ONNX graph that averages their outputs (``trainsmart train --cv K --ensemble``).

::

    raw rows [n, features] --> fold 1 network (its own in-graph preprocessing) --+
                           --> fold 2 network ...                              --+--> mean
                           --> fold K network ...                              --+
                                 -> probabilities [n, classes] (regression: value [n, 1])

* The folds are those of :func:`training.cv.cross_validate` (the test split is left out;
  each fold's preprocessing is fitted on its own training rows). Each fold network
  already maps raw rows to probabilities (softmax) or values in the target's units, so
  the ensemble averages probabilities (classification) or values (regression); its
  input and output names and shapes are a single model's, so serving sees no difference.
* One contract serves all folds: the one built from the rows the folds were cut from.
  A string category is sent as its index in the contract's list, so every fold must have
  seen the same categories; otherwise the ensemble is refused (lower K or add rows).
* Staged like any model (:func:`training.staging.stage_model`): export with the same
  exporter (dynamo, dynamic batch), the parity check of ONNX against the average of the
  K torch networks, the int8 variants and the budgeted choice (no pruning or
  distillation: they know single networks), the report. metrics.json's "ensemble" and
  the lineage's ``ensemble`` say it is an ensemble of K folds.

PyTorch only (the fold models must be torch modules to be joined into one graph).

Example::

    outcome = register_ensemble(settings.training_scope(), registry, k=5)
    outcome.bundle.lineage().ensemble      # {"folds": 5, "combine": "mean of probabilities", ...}
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from training.cv import CVResult, cross_validate
from training.data import Dataset, Part, clean, load_dataset, split
from training.frameworks import FitResult
from training.frameworks.pytorch.models import Network
from training.pipeline import TrainOutcome, register_staged
from training.settings import TrainingScope
from training.staging import stage_model
from training.tracking import training_run
from training.train import TrainedModel, dataset_contract
from trainsmart.errors import TrainingError
from trainsmart.registry.contract import InputContract
from trainsmart.registry.store import Registry

SECTION = "ensemble"
"""metrics.json's section (and the lineage's field) that describes the ensemble."""


class Ensemble(nn.Module):
    """K networks on the same raw rows; the mean of their outputs (probabilities, or
    values for regression)."""

    def __init__(self, members: Sequence[Network]) -> None:
        super().__init__()
        if not members:
            raise TrainingError("an ensemble needs at least one fold model")
        self.members = nn.ModuleList(members)
        self.regression = bool(members[0].regression)
        self.n_features = members[0].n_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs in eval mode (what the PyTorch framework's ``predict`` calls)."""
        was_training = self.training
        self.eval()
        try:
            out: torch.Tensor = self(x)
            return out
        finally:
            self.train(was_training)


def combine_rule(regression: bool) -> str:
    return "mean of values" if regression else "mean of probabilities"


def check_categories(contract: InputContract, folds: Sequence[InputContract]) -> None:
    """Refuse folds whose string categories differ from ``contract``'s (the index sent for
    a string category would mean another string to that fold's network)."""
    for spec in contract.features:
        if not spec.categories or not any(isinstance(c, str) for c in spec.categories):
            continue
        for number, fold in enumerate(folds, start=1):
            theirs = next((f.categories for f in fold.features if f.name == spec.name), None)
            if theirs != spec.categories:
                missing = sorted(set(map(str, spec.categories)) - set(map(str, theirs or [])))
                raise TrainingError(
                    f"fold {number} never saw categories {missing[:5]} of feature "
                    f"'{spec.name}', so its network codes that feature differently; the "
                    "folds cannot share one input: lower --cv K or add rows of those "
                    "categories"
                )


def build_ensemble(
    settings: TrainingScope,
    k: int,
    *,
    dataset: Dataset | None = None,
    progress: bool = False,
) -> tuple[CVResult, TrainedModel]:
    """Cross-validate with ``k`` folds and join the fold networks into one model, as a
    :class:`TrainedModel` ready for :func:`training.staging.stage_model`."""
    if settings.training.framework != "torch":
        raise TrainingError(
            f"--ensemble joins PyTorch fold networks into one graph; training.framework is "
            f"'{settings.training.framework}': set it to torch or leave out --ensemble"
        )
    dataset = dataset if dataset is not None else load_dataset(settings.data)
    result = cross_validate(settings, k, dataset=dataset, progress=progress, keep_models=True)
    cleaned_dataset, cleaned = clean(dataset, settings.data)
    splits = split(cleaned_dataset, settings.data)
    rows = Part(
        pd.concat([splits.train.frame, splits.validation.frame]),
        pd.concat([splits.train.target, splits.validation.target]),
    )
    contract = dataset_contract(rows.frame, cleaned_dataset, settings.data.allow_missing)
    fits: list[FitResult[Network]] = [fold.fitted[0] for fold in result.folds]
    check_categories(contract, [fold.fitted[1] for fold in result.folds])
    model = Ensemble([fit.model for fit in fits])
    fit = FitResult(
        model,
        best_epoch=round(float(np.mean([f.best_epoch for f in fits]))),
        best_val_loss=float(np.mean([f.best_val_loss for f in fits])),
        best_val_score=float(np.mean([f.best_val_score for f in fits])),
        history=list(fits[0].history),  # the report's curves: fold 1's
        score_name=fits[0].score_name,
        train_rows=len(rows.frame),
    )
    trained = TrainedModel(
        model,
        fit,
        cleaned_dataset,
        splits,
        contract,
        rows,
        {**splits.rows(), **cleaned},
        "torch",
    )
    return result, trained


def ensemble_section(result: CVResult, regression: bool) -> dict[str, Any]:
    """The lineage's ``ensemble`` record: folds, the combination, each fold's best epoch
    and held-out score."""
    return {
        "folds": result.k,
        "combine": combine_rule(regression),
        "fold_best_epochs": [fold.best_epoch for fold in result.folds],
        "fold_metrics": [fold.metrics for fold in result.folds],
    }


def stage_settings(settings: TrainingScope) -> TrainingScope:
    """``settings`` without pruning and distillation (they rebuild single networks)."""
    compression = settings.training.compression
    distill = compression.distill.model_copy(update={"enabled": False})
    compression = compression.model_copy(update={"prune_ratio": 0.0, "distill": distill})
    training = settings.training.model_copy(update={"compression": compression})
    return settings.model_copy(update={"training": training})


def register_ensemble(
    settings: TrainingScope,
    registry: Registry,
    k: int,
    *,
    dataset: Dataset | None = None,
    progress: bool = False,
    result: tuple[CVResult, TrainedModel] | None = None,
    tuning: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Build (or take ``result`` of :func:`build_ensemble`), stage and register the
    ensemble of ``k`` folds as a new version (not promoted)."""
    run = training_run(settings, tuning=tuning)  # one tracked run, like train_and_register
    with run, tempfile.TemporaryDirectory(prefix="trainsmart-ensemble-") as tmp:
        cv, trained = result or build_ensemble(settings, k, dataset=dataset, progress=progress)
        scope = stage_settings(settings)
        regression = trained.contract.task == "regression"
        metrics = {
            "cv": cv.to_metrics(),
            SECTION: {
                "folds": float(cv.k),
                **{f"fold_{f.number}_best_epoch": float(f.best_epoch) for f in cv.folds},
            },
        }
        staged = stage_model(scope, trained, Path(tmp), extra_metrics=metrics)
        run.staged(staged)
        bundle = register_staged(
            scope,
            registry,
            staged,
            tuning=tuning,
            ensemble=ensemble_section(cv, regression),
            tracking=run.link(),
        )
        run.registered(bundle)
    return TrainOutcome(bundle, staged.metrics, trained.model, trained, staged.serving_variant)
