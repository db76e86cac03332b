"""Write a trained model's bundle files into a staging folder (not yet registered).

::

    staging/
      model.onnx          the variant chosen to serve (training.compress: the fastest, or
                          the smallest, within training.compression.max_metric_drop of fp32)
      variants/fp32.onnx  the reference: the fp32 export after ONNX Runtime's optimisations
      contract.json
      metrics.json        {"torch"|"keras"|"fp32"|"serving": test metrics, "validation": ...,
                           "latency_ms": ..., "variants": {"selection": ..., "table": [...]},
                           "importance": permutation importance (training/importance.py)}
      reference.parquet   at most data.reference_size raw input rows
      calibration.json    classifiers: model.onnx's probability calibration (calibration.py)
      report/             report.md, curves.png, confusion.png (see training.report)

The other variants are built and measured in a temporary folder and left out of the
bundle (``keep_variants=True`` copies them all into ``variants/``, for benchmarks).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from training.calibration import calibrate_staged
from training.compress.build import Compression, compress
from training.frameworks import get_framework
from training.importance import importance_section
from training.metrics import confusion, evaluate, per_class_metrics
from training.onnx_parity import check_parity, onnx_predict, parity_sample
from training.report import ReportContent, write_report
from training.settings import TrainingScope
from training.train import TrainedModel
from trainsmart.errors import TrainingError
from trainsmart.registry.bundle import CONTRACT_FILE, METRICS_FILE, MODEL_FILE, REFERENCE_FILE


@dataclass
class Staged:
    """Bundle files written to ``path`` for ``trained``, with their test metrics."""

    trained: TrainedModel
    path: Path
    metrics: dict[str, dict[str, Any]]
    """metrics.json: test metrics per model, latencies, validation, the variant table."""
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


def reference_sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` rows of ``frame``, drawn with ``seed``."""
    if len(frame) > size:
        frame = frame.sample(n=size, random_state=seed)
    return frame.reset_index(drop=True)


def stage_model(
    settings: TrainingScope,
    trained: TrainedModel,
    staging: Path,
    *,
    reference_frame: pd.DataFrame | None = None,
    extra_metrics: dict[str, dict[str, float]] | None = None,
    version: str | None = None,
    tuning: dict[str, Any] | None = None,
    cv: dict[str, Any] | None = None,
    keep_variants: bool = False,
) -> Staged:
    """Export, check parity, build and measure the compressed variants, choose the one to
    serve, evaluate on the test split and write the files.

    ``extra_metrics`` sections (e.g. "cv") are added to metrics.json as they are.
    ``version`` is the version the report names; without it the report says the version
    is not registered yet and :func:`training.pipeline.register_staged` rewrites it.
    ``tuning`` and ``cv`` are summaries shown in the report. ``keep_variants`` copies every
    variant built into ``variants/`` (benchmarks; a registered bundle keeps fp32 only).
    """
    staging.mkdir(parents=True, exist_ok=True)
    variants = staging / "variants"
    contract = trained.contract
    test = trained.splits.test
    x_test = trained.encode(test.frame)
    y_test = test.target.tolist()
    framework = get_framework(trained.framework)
    sample = parity_sample(x_test)

    def parity(path: Path) -> float:
        return check_parity(
            trained.predict_proba,
            path,
            sample,
            settings.training.parity_tolerance,
            framework=framework.label,
        )

    with tempfile.TemporaryDirectory(prefix="trainsmart-variants-") as tmp:
        work = Path(tmp)
        raw = framework.export(trained.model, contract, work / "export.onnx")
        gap = parity(raw)  # before the variants: an unfaithful export stops here
        result = compress(
            trained,
            raw,
            settings.training,
            work / "variants",
            seed=settings.data.seed,
            parity_rows=sample,
        )
        variants.mkdir(parents=True, exist_ok=True)
        fp32 = shutil.copyfile(result.paths["fp32"], variants / "fp32.onnx")
        shutil.copyfile(result.chosen_path, staging / MODEL_FILE)
        if keep_variants:
            for name, path in result.paths.items():
                shutil.copyfile(path, variants / f"{name}.onnx")
    gap = max(gap, parity(fp32))  # the optimised fp32 that the bundle keeps
    calibrate_staged(trained, staging, settings.training.calibration)  # calibration.json
    metrics = staged_metrics(
        trained, result, evaluate(contract, y_test, trained.predict_proba(x_test))
    )
    if settings.training.importance_repeats:  # of the served variant, on the test split
        metrics["importance"] = importance_section(
            staging / MODEL_FILE, x_test, y_test, contract, settings
        )
    for section, values in (extra_metrics or {}).items():
        metrics[section] = dict(values)
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
    staged = Staged(trained, staging, metrics, result.choice.name, gap, tuning=tuning, cv=cv)
    write_staged_report(staged, settings.model_name, version)
    return staged


def staged_metrics(
    trained: TrainedModel, result: Compression, framework_metrics: dict[str, float]
) -> dict[str, dict[str, Any]]:
    """metrics.json without the extra sections: the framework's model, fp32, the served
    variant, the latencies, the validation summary and the variant table."""
    fp32 = result.row("fp32")
    served = result.row(result.choice.name)
    return {
        trained.framework: framework_metrics,
        "fp32": dict(fp32.metrics),
        "serving": dict(served.metrics),
        "latency_ms": {  # every variant's: the "variants" table
            f"{row.name}_batch_{batch}": value
            for row in (fp32, served)
            for batch, value in row.latency_ms.items()
        },
        "validation": {
            "loss": trained.fit.best_val_loss,
            trained.fit.score_name: trained.fit.best_val_score,
            "best_epoch": float(trained.fit.best_epoch),
            "epochs_run": float(len(trained.fit.history)),
        },
        "variants": result.section(),
    }


UNREGISTERED = "(not registered)"


def write_staged_report(
    staged: Staged, name: str, version: str | None, *, figures: bool = True
) -> Path:
    """Write ``report/`` into the staging folder: the serving model on the test split.

    ``figures=False`` rewrites only the Markdown (the figures do not name the version).
    """
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
        scores=None if regression else ([str(v) for v in y_test], proba.tolist()),
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
