"""Retrain from logged, labelled traffic and promote the challenger only if it wins.

1. champion = the production version; labelled = the most recent logged rows
   with feedback (fewer than ``min_labelled_rows``: rejected, nothing trained);
2. labelled rows are split into a training part and a holdout, stratified by class
   (regression: by target quintile) when the rows allow it; a regression label that is
   not a finite number is left out and counted in ``rows["unusable_labels"]``;
3. the challenger trains on the original training split plus the training part,
   each recent row repeated ``recent_weight`` times, and is staged (exported,
   parity-checked, quantized) but not registered;
4. champion and challenger are scored with onnxruntime on the holdout and on the
   original test split of the configured dataset, each through its own input contract
   (``training.metrics.evaluate``); the challenger is registered only if it beats the
   champion by ``margin`` on the holdout (``improvement(metric, champion, challenger) >=
   margin``: higher accuracy, F1, ROC AUC or R2; lower MSE or MAE) AND loses at most
   ``test_tolerance`` on the test split (:func:`gate`). Otherwise nothing changes;
5. the winner is promoted (only while the champion is still in production), or, with
   ``shadow_rows``, made the shadow candidate; the monitor promotes it later
   (``monitoring/judge/shadow_gate.py``).

Example::

    outcome = run_retrain(settings.training_scope(), registry, InputLog(db), job_id=7)
    outcome.status, outcome.reason    # ("promoted", "challenger accuracy 0.741 beat ...")
    outcome.challenger_test_metrics   # the same metrics on the original test split
    # regression: "challenger mse 2890.114 beat champion 3301.562 by >= 0.01 (lower is better)"
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from training.data import labels_to_str, load_dataset, strata
from training.encoding import encode_frame, frame_from_rows
from training.metrics import LOWER_IS_BETTER, evaluate, improvement, resolve_metric
from training.onnx_parity import onnx_predict
from training.pipeline import register_staged
from training.settings import TrainingScope
from training.staging import stage_model
from training.tracking import RetrainRun, retrain_run
from training.train import train_model
from trainsmart.errors import RegistryError, TrainingError
from trainsmart.registry.contract import InputContract
from trainsmart.registry.store import Registry
from trainsmart.state.inputlog import InputLog, LoggedRow


@dataclass
class RetrainOutcome:
    """Result of one retrain job (stored as the job's result)."""

    status: Literal["promoted", "rejected", "shadow"]
    """shadow: registered and made the shadow candidate (training.retrain.shadow_rows)."""
    reason: str
    metric: str
    champion_version: str | None
    version: str | None = None
    """The registered challenger version: promoted, or the shadow candidate (None when
    rejected)."""
    champion_metrics: dict[str, float] = field(default_factory=dict)
    """Scores on the recent labelled holdout."""
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_test_metrics: dict[str, float] = field(default_factory=dict)
    """Scores on the original test split of the configured dataset."""
    challenger_test_metrics: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_onnx(
    model_path: Path, contract: InputContract, frame: pd.DataFrame, labels: pd.Series
) -> dict[str, float]:
    """Metrics of the ONNX model at ``model_path`` on raw rows, encoded by its contract."""
    outputs = onnx_predict(model_path, encode_frame(frame, contract))
    return evaluate(contract, labels.tolist(), outputs)


def _is_number(label: str | None) -> bool:
    """A logged label that a regression can learn from: the text of a finite number."""
    try:
        return label is not None and math.isfinite(float(label))
    except ValueError:
        return False


def usable_rows(rows: list[LoggedRow], regression: bool) -> tuple[list[LoggedRow], int]:
    """(rows whose label the task can use, how many were left out). Feedback is checked
    against the contract when it arrives, so only rows labelled while the bundle could not
    be read, or under another task, are left out (regression: labels that are not numbers)."""
    if not regression:
        return rows, 0
    kept = [r for r in rows if _is_number(r.label)]
    return kept, len(rows) - len(kept)


def holdout_split(
    labels: pd.Series, fraction: float, seed: int, *, regression: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (training part, holdout); stratified by class (or, for regression,
    by target quintile) when the rows allow it."""
    from sklearn.model_selection import train_test_split  # lazy: scikit-learn (~0.6 s)

    positions = np.arange(len(labels))
    groups = strata(pd.to_numeric(labels)) if regression else labels.to_numpy()
    try:
        train, holdout = train_test_split(
            positions, test_size=fraction, stratify=groups, random_state=seed
        )
    except ValueError:  # a class with a single row cannot be stratified
        train, holdout = train_test_split(positions, test_size=fraction, random_state=seed)
    return np.sort(train), np.sort(holdout)


def run_retrain(
    settings: TrainingScope,
    registry: Registry,
    input_log: InputLog,
    *,
    job_id: int | None = None,
    progress: bool = False,
) -> RetrainOutcome:
    """Train a challenger on recent labelled traffic; register and promote it if it wins.
    Tracked as one run (training.tracking) carrying the job's trigger and the verdict."""
    with retrain_run(settings, input_log.db, job_id) as run:
        outcome = _retrain(settings, registry, input_log, run, job_id, progress)
        run.verdict(outcome.to_dict(), registry)
        return outcome


def _retrain(
    settings: TrainingScope,
    registry: Registry,
    input_log: InputLog,
    run: RetrainRun,
    job_id: int | None,
    progress: bool,
) -> RetrainOutcome:
    name = settings.model_name
    cfg = settings.training.retrain
    champion = registry.production(name)
    if champion is None:
        raise TrainingError(
            f"model '{name}' has no production version to compare a challenger with; "
            "run 'trainsmart train' and promote a version first"
        )
    champion_bundle = registry.get(name, champion)
    champion_contract = champion_bundle.contract()
    regression = champion_contract.task == "regression"
    metric = resolve_metric(cfg.metric, champion_contract.task)

    labelled, unusable = usable_rows(input_log.labelled(name, cfg.recent_rows), regression)
    outcome = RetrainOutcome("rejected", "", metric, champion, rows={"labelled": len(labelled)})
    if unusable:
        outcome.rows["unusable_labels"] = unusable
    if len(labelled) < cfg.min_labelled_rows:
        outcome.reason = (
            f"only {len(labelled)} labelled rows for '{name}' (need "
            f"{cfg.min_labelled_rows}); send more feedback or lower "
            "training.retrain.min_labelled_rows"
        ) + (f" ({unusable} labels are not finite numbers, left out)" if unusable else "")
        return outcome

    frame = frame_from_rows([r.features for r in labelled], champion_contract)
    raw_labels = pd.Series([r.label for r in labelled], dtype=object)
    labels = (
        pd.to_numeric(raw_labels).astype("float64") if regression else labels_to_str(raw_labels)
    )
    train_pos, holdout_pos = holdout_split(
        labels, cfg.holdout_fraction, settings.data.seed, regression=regression
    )
    if len(train_pos) == 0 or len(holdout_pos) == 0:
        raise TrainingError(
            f"{len(labelled)} labelled rows leave an empty training part or holdout; "
            "change training.retrain.holdout_fraction"
        )
    holdout_frame = frame.iloc[holdout_pos].reset_index(drop=True)
    holdout_labels = labels.iloc[holdout_pos].reset_index(drop=True)
    outcome.rows.update(recent_train=len(train_pos), holdout=len(holdout_pos))

    reference = None
    if cfg.reference == "recent":
        size = cfg.reference_rows or settings.trigger_rows
        recent = input_log.recent(name, size)
        reference = frame_from_rows([r.features for r in recent], champion_contract)

    trained = train_model(
        settings,
        dataset=load_dataset(settings.data),
        extra=(
            frame.iloc[train_pos].reset_index(drop=True),
            labels.iloc[train_pos].reset_index(drop=True),
            cfg.recent_weight,
        ),
        progress=progress,
        on_epoch=run.epoch,
    )
    trained.rows["holdout"] = len(holdout_pos)
    test = trained.splits.test
    test_labels = (
        pd.to_numeric(test.target).astype("float64") if regression else labels_to_str(test.target)
    ).reset_index(drop=True)
    test_frame = test.frame.reset_index(drop=True)
    outcome.rows["test"] = len(test_frame)
    with tempfile.TemporaryDirectory(prefix="trainsmart-challenger-") as tmp:
        staged = stage_model(settings, trained, Path(tmp), reference_frame=reference)
        run.staged(staged)
        champ = (champion_bundle.model_path, champion_contract)
        chall = (staged.model_path, trained.contract)
        outcome.champion_metrics = evaluate_onnx(*champ, holdout_frame, holdout_labels)
        outcome.challenger_metrics = evaluate_onnx(*chall, holdout_frame, holdout_labels)
        outcome.champion_test_metrics = evaluate_onnx(*champ, test_frame, test_labels)
        outcome.challenger_test_metrics = evaluate_onnx(*chall, test_frame, test_labels)
        refusal = gate(outcome, cfg.margin, cfg.test_tolerance)
        if refusal is not None:
            outcome.reason = refusal
            return outcome
        bundle = register_staged(
            settings,
            registry,
            staged,
            parent_version=champion,
            trigger="retrain",
            job_id=job_id,
            tracking=run.link(),
        )
    actor = f"retrain-job:{job_id}"
    try:
        if cfg.shadow_rows is not None:
            outcome.reason += (
                f"; {bundle.version} is the shadow candidate until {cfg.shadow_rows} "
                "production rows were mirrored to it (training.retrain.shadow_rows)"
            )
            registry.set_candidate(
                name, bundle.version, shadow=True, actor=actor, reason=outcome.reason
            )
            outcome.status, outcome.version = "shadow", bundle.version
            return outcome
        registry.promote(
            name, bundle.version, actor=actor, reason=outcome.reason, only_if_current=champion
        )
    except RegistryError as exc:
        outcome.reason = f"{outcome.reason}, but {exc.message}"
        return outcome
    outcome.status, outcome.version = "promoted", bundle.version
    return outcome


def gate(outcome: RetrainOutcome, margin: float, test_tolerance: float) -> str | None:
    """Why the challenger must not be promoted (None: it may), from the scores in
    ``outcome``; on success ``outcome.reason`` names both comparisons.

    It must beat the champion by ``margin`` on the recent holdout and lose at most
    ``test_tolerance`` on the original test split.
    """
    metric, champion = outcome.metric, outcome.champion_version
    direction = " (lower is better)" if metric in LOWER_IS_BETTER else ""
    old, new = outcome.champion_metrics.get(metric), outcome.challenger_metrics.get(metric)
    if old is None or new is None:
        return (
            f"{metric} is undefined on the holdout of {outcome.rows.get('holdout')} rows "
            "(a single class, or constant values); collect more varied labels or use "
            "another training.retrain.metric"
        )
    if improvement(metric, old, new) < margin:
        return (
            f"challenger {metric} {new:.3f} did not beat champion {old:.3f} "
            f"by >= {margin:g}{direction}; {champion} stays in production"
        )
    won = f"challenger {metric} {new:.3f} beat champion {old:.3f} by >= {margin:g}{direction}"
    t_old = outcome.champion_test_metrics.get(metric)
    t_new = outcome.challenger_test_metrics.get(metric)
    if t_old is None or t_new is None:
        return (
            f"{won} on the recent holdout, but {metric} is undefined on the original test "
            f"split ({outcome.rows.get('test')} rows); use another training.retrain.metric"
        )
    loss = -improvement(metric, t_old, t_new)
    if loss > test_tolerance:
        return (
            f"{won} on the recent holdout, but lost {loss:.3f} on the original test split "
            f"({metric} {t_new:.3f} vs {t_old:.3f}, training.retrain.test_tolerance "
            f"{test_tolerance:g}); {champion} stays in production"
        )
    outcome.reason = (
        f"{won} on the recent holdout, and on the original test split scored {t_new:.3f} "
        f"vs {t_old:.3f} (within test_tolerance {test_tolerance:g})"
    )
    return None
