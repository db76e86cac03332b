"""Write a trained model's bundle files into a staging folder (not yet registered).

::

    staging/
      model.onnx          the serving variant (int8 when it keeps accuracy, else fp32)
      variants/fp32.onnx
      variants/int8.onnx  when training.quantize
      contract.json
      metrics.json        {"torch"|"keras"|"fp32"|"int8"|"serving": test metrics, "validation": ...}
      reference.parquet   at most data.reference_size raw input rows
      report/             report.md, curves.png, confusion.png (see training.report)
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.export import check_parity, onnx_predict, quantize_int8, session
from training.frameworks import LABELS, export_fp32
from training.metrics import evaluate, primary_metric
from trainsmart.errors import TrainingError
from trainsmart.registry.bundle import CONTRACT_FILE, METRICS_FILE, MODEL_FILE, REFERENCE_FILE

if TYPE_CHECKING:
    from training.pipeline import TrainedModel
    from trainsmart.settings import Settings


@dataclass
class Staged:
    """Bundle files written to ``path`` for ``trained``, with their test metrics."""

    trained: TrainedModel
    path: Path
    metrics: dict[str, dict[str, float]]
    serving_variant: str
    parity_gap: float
    tuning: dict[str, Any] | None = None
    """Tuning summary for the report (None: no search was run)."""
    cv: dict[str, Any] | None = None
    """Cross-validation summary for the report (None: metrics["cv"] when present)."""
    report_version: str | None = None
    """The version the report names (None: written before the version was known)."""

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE


def parity_sample(x_test: np.ndarray) -> np.ndarray:
    """Three test rows, the last with every value missing (exercises imputation)."""
    if len(x_test) < 2:
        raise TrainingError(f"the test split has {len(x_test)} rows; parity needs at least 2")
    blank = np.full((1, x_test.shape[1]), np.nan, dtype=np.float32)
    return np.vstack([x_test[:2], blank]).astype(np.float32)


def reference_sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` rows of ``frame``, drawn with ``seed``."""
    if len(frame) > size:
        frame = frame.sample(n=size, random_state=seed)
    return frame.reset_index(drop=True)


LATENCY_BATCHES = (1, 64)
MIN_SPEEDUP = 1.10


def variant_latency_ms(path: Path, x: np.ndarray, repeats: int = 100) -> dict[str, float]:
    """Median ONNX Runtime latency of one variant at batch 1 and 64 (CPU, this machine)."""
    sess = session(path)
    name = sess.get_inputs()[0].name
    out: dict[str, float] = {}
    for batch in LATENCY_BATCHES:
        feed = {name: np.ascontiguousarray(np.resize(x, (batch, x.shape[1])), dtype=np.float32)}
        for _ in range(10):
            sess.run(None, feed)
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            sess.run(None, feed)
            samples.append((time.perf_counter() - started) * 1000)
        out[f"batch_{batch}"] = float(np.median(samples))
    return out


def choose_variant(
    metrics: dict[str, dict[str, float]],
    max_drop: float,
    latency: dict[str, dict[str, float]] | None = None,
    metric: str = "accuracy",
) -> str:
    """int8 when its test ``metric`` (higher is better) is at most ``max_drop`` below
    fp32's and it is at least 10% faster (batch 1 + batch 64 medians), else fp32: a slower
    int8 is no gain."""
    if "int8" not in metrics:
        return "fp32"
    if metrics["int8"].get(metric, -np.inf) < metrics["fp32"].get(metric, np.inf) - max_drop:
        return "fp32"
    if (
        latency
        and {"int8", "fp32"} <= latency.keys()
        and sum(latency["fp32"].values()) < MIN_SPEEDUP * sum(latency["int8"].values())
    ):
        return "fp32"
    return "int8"


def stage_model(
    settings: Settings,
    trained: TrainedModel,
    staging: Path,
    *,
    reference_frame: pd.DataFrame | None = None,
    extra_metrics: dict[str, dict[str, float]] | None = None,
    version: str | None = None,
    tuning: dict[str, Any] | None = None,
    cv: dict[str, Any] | None = None,
) -> Staged:
    """Export, check parity, quantize, evaluate on the test split and write the files.

    ``extra_metrics`` sections (e.g. "cv") are added to metrics.json as they are.
    ``version`` is the version the report names; without it the report says the version
    is not registered yet and :func:`training.pipeline.register_staged` rewrites it.
    ``tuning`` and ``cv`` are summaries shown in the report.
    """
    staging.mkdir(parents=True, exist_ok=True)
    variants = staging / "variants"
    contract = trained.contract
    test = trained.splits.test
    x_test = trained.encode(test.frame)
    y_test = test.target.tolist()

    framework = trained.framework
    fp32 = export_fp32(framework, trained.model, contract, variants / "fp32.onnx")
    gap = check_parity(
        trained.predict_proba,
        fp32,
        parity_sample(x_test),
        settings.training.parity_tolerance,
        framework=LABELS[framework],
    )
    metrics: dict[str, dict[str, float]] = {
        framework: evaluate(contract, y_test, trained.predict_proba(x_test)),
        "fp32": evaluate(contract, y_test, onnx_predict(fp32, x_test)),
    }
    paths = {"fp32": fp32}
    if settings.training.quantize:
        paths["int8"] = quantize_int8(fp32, variants / "int8.onnx")
        metrics["int8"] = evaluate(contract, y_test, onnx_predict(paths["int8"], x_test))
    latency = {name: variant_latency_ms(path, x_test) for name, path in paths.items()}
    variant = choose_variant(
        metrics, settings.training.max_metric_drop, latency, primary_metric(contract.task)
    )
    metrics["serving"] = dict(metrics[variant])
    metrics["latency_ms"] = {
        f"{name}_{batch}": value for name, per in latency.items() for batch, value in per.items()
    }
    metrics["validation"] = {
        "loss": trained.fit.best_val_loss,
        trained.fit.score_name: trained.fit.best_val_score,
        "best_epoch": float(trained.fit.best_epoch),
        "epochs_run": float(len(trained.fit.history)),
    }
    for section, values in (extra_metrics or {}).items():
        metrics[section] = dict(values)
    shutil.copyfile(paths[variant], staging / MODEL_FILE)
    (staging / CONTRACT_FILE).write_text(contract.model_dump_json(indent=2))
    (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))

    source = trained.train.frame if reference_frame is None else reference_frame
    missing = [n for n in contract.feature_names if n not in source.columns]
    if missing:
        raise TrainingError(
            f"reference rows lack features {missing}; expected {contract.feature_names}"
        )
    reference = reference_sample(
        source[contract.feature_names], settings.data.reference_size, settings.data.seed
    )
    reference.to_parquet(staging / REFERENCE_FILE, index=False)
    staged = Staged(trained, staging, metrics, variant, gap, tuning=tuning, cv=cv)
    write_staged_report(staged, settings.model_name, version)
    return staged


UNREGISTERED = "(not registered)"


def write_staged_report(
    staged: Staged, name: str, version: str | None, *, figures: bool = True
) -> Path:
    """Write ``report/`` into the staging folder: the serving model on the test split.

    ``figures=False`` rewrites only the Markdown (the figures do not name the version).
    """
    from training.metrics import confusion, per_class_metrics
    from training.report import ReportContent, write_report

    trained = staged.trained
    classes = trained.contract.classes
    test = trained.splits.test
    proba = onnx_predict(staged.model_path, trained.encode(test.frame))
    y_test = test.target.tolist()
    parts = {
        "train": trained.splits.train,
        "validation": trained.splits.validation,
        "test": test,
    }
    regression = trained.contract.task == "regression"
    balance: dict[str, dict[str, Any]] = {
        split: _target_summary(part.target)
        if regression
        else {
            str(c): int(n)
            for c, n in part.target.value_counts().reindex(classes, fill_value=0).items()
        }
        for split, part in parts.items()
    }
    content = ReportContent(
        name=name,
        version=version or UNREGISTERED,
        fit=trained.fit,
        metrics=staged.metrics,
        classes=classes,
        confusion=[] if regression else confusion(y_test, proba, classes),
        per_class={} if regression else per_class_metrics(y_test, proba, classes),
        rows=trained.rows,
        class_balance=balance,
        tuning=staged.tuning,
        cv=staged.cv if staged.cv is not None else staged.metrics.get("cv"),
        serving_variant=staged.serving_variant,
        regression=([float(v) for v in y_test], proba.reshape(-1).tolist()) if regression else None,
    )
    path = write_report(staged.path, content, figures=figures)
    staged.report_version = version
    return path


def _target_summary(target: pd.Series) -> dict[str, Any]:
    values = pd.to_numeric(target).astype("float64")
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=0)),
        "min": float(values.min()),
        "max": float(values.max()),
    }
