"""A registered version's report: Markdown with PNG figures, readable without a server.

::

    report/
      report.md      data summary, training, metric tables, the compressed variants and
                     the one served, confusion matrix, tuning, CV
      curves.png     train/validation loss and validation accuracy per epoch, best epoch marked
      confusion.png  the serving variant's confusion matrix on the test split (classification)
      predictions.png  predicted against true values on the test split (regression)
      roc.png, pr.png  ROC and precision-recall curves, one-vs-rest (classification)
      importance.png   permutation importance with its std (tabular models; metrics.json)

Example::

    content = ReportContent(
        name="fair", version="v3", fit=trained.fit, metrics=metrics,
        classes=["0", "1"], confusion=[[900, 60], [150, 200]], per_class=per_class,
        rows={"train": 4456, "validation": 955, "test": 955},
        class_balance={"train": {"0": 3026, "1": 1430}, ...},
    )
    write_report(staging, content)  # -> staging / "report" / "report.md"

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never
through pyplot: no backend is switched and no figure outlives the call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.compress.table import variants_markdown
from training.figures import (
    confusion_figure,
    curves_figure,
    importance_figure,
    predictions_figure,
    save_figure,
)
from training.importance import importance_markdown, top_features
from training.roc_pr import roc_pr_markdown, save_roc_pr

if TYPE_CHECKING:
    from training.frameworks.base import FitResult

REPORT_DIR = "report"
REPORT_FILE = "report.md"
CURVES_FILE = "curves.png"
CONFUSION_FILE = "confusion.png"
PREDICTIONS_FILE = "predictions.png"
IMPORTANCE_FILE = "importance.png"
METRIC_COLUMNS = ("accuracy", "precision", "recall", "f1", "roc_auc", "rows")
REGRESSION_COLUMNS = ("mse", "rmse", "mae", "r2", "rows")
VARIANTS = ("torch", "keras", "fp32", "serving")
"""Metric rows shown, in order: the training framework's own model, then the ONNX ones
(every compressed variant is in the "Compressed variants" table)."""


@dataclass(frozen=True)
class ReportContent:
    """Everything a report shows about one version."""

    name: str
    version: str
    fit: FitResult
    metrics: Mapping[str, Mapping[str, float]]
    classes: Sequence[str]
    confusion: Sequence[Sequence[int]]
    per_class: Mapping[str, Mapping[str, float]]
    rows: Mapping[str, int]
    class_balance: Mapping[str, Mapping[str, int]]
    tuning: Mapping[str, Any] | None = None
    cv: Mapping[str, Any] | None = None
    serving_variant: str | None = None
    regression: tuple[Sequence[float], Sequence[float]] | None = None
    """(true, predicted) test values of a regression model; None for a classifier. A
    regression report has no classes, confusion, per-class or balance sections; its
    class_balance holds the target's mean, std, min and max per split instead."""
    scores: tuple[Sequence[str], Sequence[Sequence[float]]] | None = None
    """(true labels, test probabilities) of a classifier: roc.png, pr.png (None: none)."""


def write_report(folder: Path, content: ReportContent, *, figures: bool = True) -> Path:
    """Write ``folder/report/`` (Markdown and both figures); return the Markdown's path.

    ``figures=False`` writes only the Markdown (to rename the version of a report whose
    figures are already there).
    """
    classes = [str(c) for c in content.classes]
    confusion = content.confusion
    out = Path(folder) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    importance = content.metrics.get("importance")
    if figures and top_features(importance):  # importance.png: permutation importance
        metric = str((importance or {}).get("metric", "score"))
        save_figure(importance_figure(top_features(importance), metric), out / IMPORTANCE_FILE)
    if content.regression is not None:
        if figures:
            save_figure(curves_figure(content.fit), out / CURVES_FILE)
            truth, predicted = content.regression
            save_figure(
                predictions_figure(truth, predicted, content.serving_variant),
                out / PREDICTIONS_FILE,
            )
        path = out / REPORT_FILE
        path.write_text(render_markdown(content), encoding="utf-8")
        return path
    if len(confusion) != len(classes) or any(len(row) != len(classes) for row in confusion):
        raise ValueError(
            f"the confusion matrix must be {len(classes)}x{len(classes)} (one row and one "
            f"column per class {classes}); got {[len(row) for row in confusion]}"
        )
    if figures:
        save_figure(curves_figure(content.fit), out / CURVES_FILE)
        save_figure(
            confusion_figure(confusion, classes, content.serving_variant), out / CONFUSION_FILE
        )
        save_roc_pr(out, content.scores, classes, content.serving_variant)  # roc.png, pr.png
    path = out / REPORT_FILE
    path.write_text(render_markdown(replace(content, classes=classes)), encoding="utf-8")
    return path


# -- Markdown -------------------------------------------------------------------------------
def render_markdown(content: ReportContent) -> str:
    """The report's Markdown (figures linked by relative path)."""
    c = content
    name, version, fit, metrics, classes = c.name, c.version, c.fit, c.metrics, c.classes
    confusion, per_class, rows, class_balance = c.confusion, c.per_class, c.rows, c.class_balance
    tuning, cv, serving_variant = c.tuning, c.cv, c.serving_variant
    served = f" (serving variant: {serving_variant}, in model.onnx)" if serving_variant else ""
    lines = [f"# {name}:{version}", "", f"Test-split evaluation of this version{served}.", ""]

    lines += [
        "## Data",
        "",
        *_table(
            ["split", "rows", "target" if c.regression is not None else "class balance"],
            _data_rows(rows, class_balance),
        ),
        "",
    ]

    lines += ["## Training", ""]
    if fit.history:
        lines.append(
            f"Epochs run: {len(fit.history)}. Best epoch (early stopping, weights restored): "
            f"**{fit.best_epoch}**, validation loss {fit.best_val_loss:.4f}, "
            f"validation {fit.score_name} {fit.best_val_score:.4f}."
        )
    else:
        lines.append("No epochs were recorded.")
    lines += ["", f"![training curves]({CURVES_FILE})", ""]

    lines += ["## Test metrics per variant", ""]
    variants = [v for v in VARIANTS if v in metrics]
    shown: Sequence[str] = REGRESSION_COLUMNS if c.regression is not None else METRIC_COLUMNS
    lines += _table(
        ["variant", *shown],
        [[v, *(_metric(metrics[v], k) for k in shown)] for v in variants],
    )
    table = variants_markdown(metrics.get("variants"))
    if table:
        lines += ["", "## Compressed variants", "", *table]
    elif "latency_ms" in metrics:
        shown = ", ".join(f"{k} {v:.3g}" for k, v in metrics["latency_ms"].items())
        lines += ["", f"ONNX Runtime latency (ms, median): {shown}."]
    lines.append("")
    lines += importance_markdown(metrics.get("importance"), IMPORTANCE_FILE)
    if c.regression is not None:
        lines += [
            "## Predictions (serving variant, test split)",
            "",
            f"![predicted against true values]({PREDICTIONS_FILE})",
            "",
        ]
        return "\n".join([*lines, *_appendix(tuning, cv)])

    lines += ["## Per class (serving variant, test split)", ""]
    columns = ("precision", "recall", "f1", "support")
    lines += _table(
        ["class", *columns],
        [[c, *(_metric(per_class.get(c, {}), k) for k in columns)] for c in classes],
    )
    lines.append("")

    total = sum(sum(row) for row in confusion)
    lines += [
        "## Confusion matrix (serving variant, test split)",
        "",
        f"Rows: true class; columns: predicted class; {total} rows in all.",
        "",
        *_table(
            ["true \\ predicted", *classes],
            [[c, *(str(n) for n in row)] for c, row in zip(classes, confusion, strict=True)],
        ),
        "",
        f"![confusion matrix]({CONFUSION_FILE})",
        "",
    ]
    lines += roc_pr_markdown(c.scores, classes)

    return "\n".join([*lines, *_appendix(tuning, cv)])


def _appendix(tuning: Mapping[str, Any] | None, cv: Mapping[str, Any] | None) -> list[str]:
    return ["## Tuning", "", *_summary(tuning), "", "## Cross-validation", "", *_summary(cv), ""]


def _data_rows(
    rows: Mapping[str, int], class_balance: Mapping[str, Mapping[str, int]]
) -> list[list[str]]:
    out = []
    for split in [*rows, *(s for s in class_balance if s not in rows)]:
        counts = class_balance.get(split, {})
        if any(isinstance(n, float) for n in counts.values()):  # regression target summary
            out.append([split, str(rows.get(split, "-")), _value(dict(counts))])
            continue
        total = sum(counts.values())
        balance = ", ".join(f"{c}: {n} ({n / total:.1%})" for c, n in counts.items() if total)
        out.append([split, str(rows.get(split, total)), balance or "-"])
    return out


def _metric(values: Mapping[str, float], key: str) -> str:
    if key not in values:
        return "-"
    value = values[key]
    return f"{value:.0f}" if key in ("rows", "support") else f"{value:.4f}"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in body),
    ]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def _summary(section: Mapping[str, Any] | None) -> list[str]:
    """Scalars as a list; a mapping of mappings (e.g. metric -> {mean, std}) as a table."""
    if not section:
        return ["Not run."]
    section = _mean_std_table(section)
    lines: list[str] = []
    for key, value in section.items():
        nested = isinstance(value, Mapping) and value
        if nested and all(isinstance(v, Mapping) for v in value.values()):
            columns = list(dict.fromkeys(k for v in value.values() for k in v))
            lines += [
                "",
                f"**{key}**",
                "",
                *_table(
                    ["", *columns],
                    [[k, *(_value(v.get(c, "-")) for c in columns)] for k, v in value.items()],
                ),
                "",
            ]
        else:
            lines.append(f"- {key}: {_value(value)}")
    return lines


def _mean_std_table(section: Mapping[str, Any]) -> dict[str, Any]:
    """Fold flat ``{metric}_mean`` / ``{metric}_std`` pairs into ``{"metrics": {metric: ...}}``
    (the form metrics.json keeps cross-validation in), so they show as one table."""
    folded: dict[str, dict[str, Any]] = {}
    rest: dict[str, Any] = {}
    for key, value in section.items():
        stem, _, stat = key.rpartition("_")
        if stem and stat in ("mean", "std") and not isinstance(value, Mapping):
            folded.setdefault(stem, {})[stat] = value
        else:
            rest[key] = value
    if folded:
        rest["metrics"] = folded
    return rest


# -- figures --------------------------------------------------------------------------------
