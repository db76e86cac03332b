"""ROC and precision-recall curves in the report, next to the confusion matrix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from training.frameworks import FitResult
from training.pipeline import TrainOutcome
from training.report import ReportContent, write_report
from training.roc_pr import curve_summary

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_drawn_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] >= 300 and pixels.shape[1] >= 300
    assert float(np.ptp(pixels[..., :3])) > 0.5, f"{path.name} is blank"


def test_registered_report_has_checksummed_roc_and_pr_figures(champion: TrainOutcome) -> None:
    bundle = champion.bundle
    recorded = json.loads((bundle.path / "checksums.json").read_text())
    for name in ("roc.png", "pr.png"):
        _is_drawn_png(bundle.path / "report" / name)
        assert f"report/{name}" in recorded
    text = bundle.report_path.read_text(encoding="utf-8")
    assert "![ROC curves](roc.png) ![precision-recall curves](pr.png)" in text
    # next to the confusion matrix: the section right after it
    assert text.index("## Confusion matrix") < text.index("## ROC and precision-recall")


def test_report_auc_is_the_served_models_test_roc_auc(champion: TrainOutcome) -> None:
    text = champion.bundle.report_path.read_text(encoding="utf-8")
    positive = champion.trained.contract.classes[1]
    match = re.search(rf"^\| {positive} \| (\d\.\d{{4}}) \| (\d\.\d{{4}}) \|$", text, re.M)
    assert match, text
    assert float(match.group(1)) == pytest.approx(champion.metrics["serving"]["roc_auc"], abs=1e-4)


def test_multiclass_report_draws_one_curve_per_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    truth = [classes[i] for i in rng.integers(0, 3, size=90)]
    proba = rng.dirichlet(np.ones(3), size=90)
    for row, label in zip(proba, truth, strict=True):  # a useful but imperfect model
        row[classes.index(label)] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    content = ReportContent(
        name="m",
        version="v1",
        fit=FitResult(None, 1, 0.5, 0.8),
        metrics={},
        classes=classes,
        confusion=[[30, 0, 0], [0, 30, 0], [0, 0, 30]],
        per_class={},
        rows={"test": 90},
        class_balance={},
        scores=(truth, proba.tolist()),
    )
    text = write_report(tmp_path, content).read_text(encoding="utf-8")
    for name in ("roc.png", "pr.png", "confusion.png"):
        _is_drawn_png(tmp_path / "report" / name)
    summary = curve_summary(truth, proba, classes)
    assert list(summary) == classes
    for name, areas in summary.items():
        assert 0.5 < areas["roc_auc"] < 1.0
        assert f"| {name} | {areas['roc_auc']:.4f} | {areas['average_precision']:.4f} |" in text


def test_areas_of_a_perfect_and_a_reversed_score() -> None:
    classes = ["0", "1"]
    truth = ["0", "0", "1", "1"]
    perfect = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    assert curve_summary(truth, perfect, classes) == {
        "1": {"roc_auc": 1.0, "average_precision": 1.0}
    }
    assert curve_summary(truth, perfect[::-1], classes)["1"]["roc_auc"] == 0.0
    # a class absent from the test rows has no curve
    assert curve_summary(["0", "0"], perfect[:2], classes) == {}
