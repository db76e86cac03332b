"""Calibration of the served probabilities: fitted on the validation split, stored in the
bundle (checksummed), and better calibrated than the raw probabilities."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from training.calibration import expected_calibration_error, fit_calibration, log_loss
from training.data import Dataset
from training.onnx_parity import onnx_predict
from training.pipeline import TrainOutcome
from training.staging import stage_model
from training.train import train_model
from trainsmart.errors import RegistryError
from trainsmart.registry.bundle import CALIBRATION_FILE, CHECKSUMS_FILE, Bundle
from trainsmart.registry.calibration import Calibration

from .conftest import make_settings


def over_confident(n: int, seed: int, power: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Binary rows whose true P(y=1) is q, served as q**power / (q**power + (1-q)**power)."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < q).astype(int)
    served = q**power / (q**power + (1 - q) ** power)
    return np.column_stack([1 - served, served]), y


@pytest.mark.parametrize("method", ["auto", "isotonic", "temperature"])
def test_calibration_lowers_the_ece_of_over_confident_probabilities(method: str) -> None:
    proba, y = over_confident(3000, seed=1)
    calibration = fit_calibration(proba, y, ["0", "1"], method)  # type: ignore[arg-type]
    assert calibration.method != "none"
    figures = calibration.validation
    assert figures["ece_before"] > 0.05
    assert figures["ece_after"] < figures["ece_before"] / 2  # cross-fitted, not in-sample
    fresh, y_fresh = over_confident(3000, seed=2)  # and on rows it never saw
    assert expected_calibration_error(calibration.apply(fresh), y_fresh) < 0.03
    assert log_loss(calibration.apply(fresh), y_fresh) < log_loss(fresh, y_fresh)


def test_auto_keeps_calibrated_probabilities_as_they_are() -> None:
    rng = np.random.default_rng(4)
    q = rng.uniform(0.05, 0.95, 3000)
    y = (rng.random(3000) < q).astype(int)
    calibration = fit_calibration(np.column_stack([1 - q, q]), y, ["0", "1"])
    assert calibration.method in ("none", "temperature")
    if calibration.method == "temperature":
        assert calibration.temperature == pytest.approx(1.0, abs=0.1)


def test_labels_are_matched_by_name_and_the_file_round_trips(tmp_path: Path) -> None:
    proba, y = over_confident(500, seed=3)
    names = np.where(y == 1, "yes", "no")
    by_name = fit_calibration(proba, names, ["no", "yes"], "isotonic")
    by_index = fit_calibration(proba, y, ["no", "yes"], "isotonic")
    np.testing.assert_allclose(by_name.apply(proba), by_index.apply(proba))
    again = Calibration.from_dict(json.loads(json.dumps(by_name.to_dict())))
    np.testing.assert_allclose(again.apply(proba), by_name.apply(proba))
    np.testing.assert_allclose(again.apply(proba).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="neither classes"):
        fit_calibration(proba, np.where(y == 1, "a", "b"), ["no", "yes"])


def test_the_bundle_holds_the_served_models_calibration(champion: TrainOutcome) -> None:
    bundle = champion.bundle
    calibration = Calibration.from_bundle(bundle)
    assert calibration is not None
    assert calibration.classes == bundle.contract().classes
    figures = calibration.validation
    assert figures["setting"] == "auto" and figures["rows"] > 100
    assert figures["log_loss_after"] <= figures["log_loss_before"]  # "none" is a candidate
    assert figures["ece_after"] <= figures["ece_before"] + 0.01
    recorded = json.loads((bundle.path / CHECKSUMS_FILE).read_text())
    assert CALIBRATION_FILE in recorded  # copied, checksummed and exported like the others
    bundle.verify()


def test_a_tampered_calibration_is_refused(champion: TrainOutcome, tmp_path: Path) -> None:
    copy = shutil.copytree(champion.bundle.path, tmp_path / "bundle")
    (copy / CALIBRATION_FILE).write_text("{}")
    bundle = Bundle("fair", "v1", copy)
    with pytest.raises(RegistryError, match="does not match its checksum"):
        bundle.verify()
    with pytest.raises(RegistryError, match=r"unreadable calibration\.json"):
        Calibration.from_bundle(bundle)


def test_the_explicit_setting_is_used(fair: Dataset, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, calibration="temperature")
    trained = train_model(settings.training_scope(), dataset=fair, progress=False)
    staged = stage_model(settings.training_scope(), trained, tmp_path / "staging")
    calibration = Calibration.from_dict(json.loads((staged.path / CALIBRATION_FILE).read_text()))
    assert (
        calibration.method == "temperature" and calibration.validation["setting"] == "temperature"
    )
    validation = trained.splits.validation
    served = onnx_predict(staged.model_path, trained.encode(validation.frame))
    assert not np.allclose(calibration.apply(served), served)


def test_the_bias_undoes_the_prior_that_class_weights_shift() -> None:
    """Class weights train as if the classes were balanced: a 20% class is served with
    probabilities near 50%. Temperature alone cannot move the prior back; its bias does."""
    rng = np.random.default_rng(5)
    score = rng.normal(0.0, 1.0, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(score - 1.4)))).astype(int)  # ~ 25% positive
    served1 = 1 / (1 + np.exp(-score))  # as if balanced: the prior moved to ~ 50%
    served = np.column_stack([1 - served1, served1])
    calibration = fit_calibration(served, y, ["0", "1"], "temperature")
    assert calibration.bias[1] < -1.0
    fresh = calibration.apply(served)
    assert fresh[:, 1].mean() == pytest.approx(y.mean(), abs=0.01)
    assert served[:, 1].mean() - y.mean() > 0.2
