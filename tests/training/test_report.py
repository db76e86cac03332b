"""Each registered version carries a report: Markdown with two PNG figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.training.conftest import make_settings
from training.metrics import confusion, per_class_metrics
from training.pipeline import TrainOutcome
from training.report import ReportContent, write_report
from trainsmart.errors import TrainingError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPORT_FILES = ("report/report.md", "report/curves.png", "report/confusion.png")


def _markdown(outcome: TrainOutcome) -> str:
    return outcome.bundle.report_path.read_text(encoding="utf-8")


def _confusion_table(markdown: str) -> list[list[int]]:
    section = markdown.split("## Confusion matrix", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[int(cell) for cell in row.strip("| ").split(" | ")[1:]] for row in rows]


def test_registered_bundle_has_checksummed_report_files(champion: TrainOutcome) -> None:
    bundle = champion.bundle
    recorded = json.loads((bundle.path / "checksums.json").read_text())
    for name in REPORT_FILES:
        assert (bundle.path / name).is_file(), name
        assert name in recorded, f"{name} is not checksummed"
    bundle.verify()


@pytest.mark.parametrize("figure", ["curves.png", "confusion.png"])
def test_report_figures_are_valid_pngs(champion: TrainOutcome, figure: str) -> None:
    import matplotlib.image

    path = champion.bundle.path / "report" / figure
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 5_000
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert height >= 200 and width >= 300
    assert float(np.ptp(pixels[..., :3])) > 0.5, "the figure is blank"


def test_report_markdown_names_version_metrics_best_epoch_and_images(
    champion: TrainOutcome,
) -> None:
    text = _markdown(champion)
    bundle, fit = champion.bundle, champion.trained.fit
    assert text.startswith(f"# {bundle.name}:{bundle.version}\n")
    assert "| variant | accuracy | precision | recall | f1 | roc_auc | rows |" in text
    serving = champion.metrics["serving"]
    for variant in ("torch", "fp32", "serving"):
        assert re.search(rf"^\| {variant} \| \d\.\d{{4}} \|", text, re.MULTILINE), variant
    assert f"| serving | {serving['accuracy']:.4f} |" in text
    assert f"Best epoch (early stopping, weights restored): **{fit.best_epoch}**" in text
    assert f"Epochs run: {len(fit.history)}." in text
    assert "![training curves](curves.png)" in text
    assert "![confusion matrix](confusion.png)" in text
    for split, rows in champion.trained.splits.rows().items():
        assert re.search(rf"^\| {split} \| {rows} \| ", text, re.MULTILINE), split
    assert "## Tuning\n\nNot run." in text
    assert "## Cross-validation\n\nNot run." in text


def test_report_confusion_matrix_counts_the_test_rows(champion: TrainOutcome) -> None:
    table = _confusion_table(_markdown(champion))
    classes = champion.trained.contract.classes
    test_rows = len(champion.trained.splits.test)
    assert len(table) == len(classes) and all(len(row) == len(classes) for row in table)
    assert sum(map(sum, table)) == test_rows
    correct = sum(table[i][i] for i in range(len(classes)))
    assert correct / test_rows == pytest.approx(champion.metrics["serving"]["accuracy"])


def test_models_show_prints_the_report_path(
    champion_dir: tuple[Path, TrainOutcome], tmp_path: Path
) -> None:
    from apps.cli.main import cli

    data_dir, outcome = champion_dir
    config = tmp_path / "conf.yaml"
    config.write_text(f"data_dir: {data_dir}\n")
    bundle = outcome.bundle
    result = CliRunner().invoke(
        cli, ["--config", str(config), "models", "show", bundle.name, bundle.version]
    )
    assert result.exit_code == 0, result.output
    assert f"report: {bundle.report_path}" in result.output


def test_write_report_renders_tuning_and_cv(champion: TrainOutcome, tmp_path: Path) -> None:
    trained = champion.trained
    classes = trained.contract.classes
    counts = [[5, 1], [2, 7]] if len(classes) == 2 else np.eye(len(classes), dtype=int).tolist()
    path = write_report(
        tmp_path,
        ReportContent(
            name="demo",
            version="v9",
            fit=trained.fit,
            metrics=champion.metrics,
            classes=classes,
            confusion=counts,
            per_class={
                c: {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 4} for c in classes
            },
            rows={"train": 10, "validation": 3, "test": 3},
            class_balance={"train": dict.fromkeys(classes, 5)},
            tuning={"n_trials": 20, "n_pruned": 7, "best_params": {"learning_rate": 0.003}},
            cv={"folds": 5, "metrics": {"accuracy": {"mean": 0.71, "std": 0.02}}},
            serving_variant="fp32",
        ),
    )
    assert path == tmp_path / "report" / "report.md"
    text = path.read_text()
    assert text.startswith("# demo:v9\n")
    assert "- n_trials: 20" in text and "- n_pruned: 7" in text
    assert "learning_rate=0.003" in text
    assert "| accuracy | 0.71 | 0.02 |" in text and "- folds: 5" in text
    assert "Not run." not in text
    flat = write_report(
        tmp_path / "flat",
        ReportContent(
            name="demo",
            version="v9",
            fit=trained.fit,
            metrics=champion.metrics,
            classes=classes,
            confusion=counts,
            per_class={},
            rows={},
            class_balance={},
            cv={"accuracy_mean": 0.7, "accuracy_std": 0.01, "f1_mean": 0.5, "folds": 5.0},
        ),
        figures=False,
    ).read_text()
    assert "| accuracy | 0.7 | 0.01 |" in flat and "| f1 | 0.5 | - |" in flat
    assert "- folds: 5" in flat and "## Tuning\n\nNot run." in flat
    assert not (tmp_path / "flat" / "report" / "curves.png").exists()
    assert f"| {classes[0]} | 0.5000 | 0.2500 | 0.3333 | 4 |" in text
    assert "| train | 10 | " in text and "| test | 3 | - |" in text


def test_write_report_rejects_a_confusion_matrix_of_the_wrong_shape(
    champion: TrainOutcome, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="confusion matrix must be"):
        write_report(
            tmp_path,
            ReportContent(
                name="demo",
                version="v1",
                fit=champion.trained.fit,
                metrics={},
                classes=["a", "b"],
                confusion=[[1, 2, 3]],
                per_class={},
                rows={},
                class_balance={},
            ),
        )


def test_confusion_and_per_class_metrics() -> None:
    proba = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.2, 0.8, 0.0], [0.1, 0.1, 0.8]])
    labels = ["a", "b", "b", "c"]
    assert confusion(labels, proba, ["a", "b", "c"]) == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    table = per_class_metrics(labels, proba, ["a", "b", "c"])
    assert table["a"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert table["b"]["precision"] == 1.0 and table["b"]["recall"] == 0.5
    assert table["c"]["f1"] == 1.0 and table["c"]["support"] == 1
    with pytest.raises(TrainingError, match="not among the classes"):
        confusion(["z"], proba[:1], ["a", "b", "c"])
    with pytest.raises(TrainingError, match="expected"):
        per_class_metrics(labels, proba[:, :2], ["a", "b", "c"])


def test_unregistered_staging_report_says_so(champion: TrainOutcome, tmp_path: Path) -> None:
    """A staged (not yet registered) bundle's report says so; registering renames it."""
    from training.pipeline import register_staged
    from training.staging import UNREGISTERED, stage_model
    from trainsmart.registry import Registry
    from trainsmart.state import open_database

    settings = make_settings(tmp_path / "data", quantize=False)
    staged = stage_model(settings.training_scope(), champion.trained, tmp_path / "staging")
    report = staged.path / "report" / "report.md"
    assert report.read_text().startswith(f"# {settings.model_name}:{UNREGISTERED}\n")
    db = open_database(settings)
    try:
        registry = Registry(settings.paths.model_store, db)
        scope = settings.training_scope()
        bundle = register_staged(scope, registry, staged, tuning={"n_trials": 3})
    finally:
        db.close()
    text = bundle.report_path.read_text()
    assert text.startswith(f"# {settings.model_name}:v1\n")
    assert "- n_trials: 3" in text
    bundle.verify()
