from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.drift.detector import DriftDetector
from monitoring.drift.frames import contract_frame, normalize_value
from monitoring.drift.options import DriftOptions
from monitoring.errors import MonitoringError
from tests.monitoring.conftest import FEATURES
from trainsmart.registry import FeatureSpec, InputContract


@pytest.fixture(scope="module")
def detector(reference: pd.DataFrame, contract: InputContract) -> DriftDetector:
    return DriftDetector(reference, contract, drift_share=0.5)


def test_same_population_has_no_dataset_drift(
    detector: DriftDetector, unshifted: pd.DataFrame
) -> None:
    result = detector.run(unshifted.iloc[:300])
    assert result.rows == 300
    assert result.dataset_drift is False
    assert set(result.features) == set(FEATURES)
    assert result.drifted_count == sum(f.drifted for f in result.features.values())
    assert result.drift_share == pytest.approx(result.drifted_count / len(FEATURES))
    assert result.drift_share < 0.5


def test_subpopulation_shift_is_dataset_drift(
    detector: DriftDetector, shifted: pd.DataFrame
) -> None:
    result = detector.run(shifted.iloc[:300])
    assert result.dataset_drift is True
    assert result.drift_share >= 0.5
    age = result.features["age"]
    assert age.drifted is True
    assert age.method == "K-S p_value"
    assert age.threshold == pytest.approx(0.05)
    assert age.score < age.threshold
    body = result.to_dict()
    assert body["features"]["age"]["drifted"] is True
    assert body["dataset_drift"] is True


def test_an_all_null_feature_is_skipped_not_fatal(
    detector: DriftDetector, unshifted: pd.DataFrame
) -> None:
    window = unshifted.iloc[:300].copy()
    window["educ"] = np.nan
    result = detector.run(window)
    assert result.skipped == ["educ"]
    assert "educ" not in result.features


def test_save_html_writes_the_last_report(
    detector: DriftDetector, unshifted: pd.DataFrame, tmp_path: Path
) -> None:
    detector.report(unshifted.iloc[:300])
    target = tmp_path / "report.html"
    detector.save_html(target)
    assert target.stat().st_size > 1000


def test_reference_without_a_contract_feature_is_refused(
    reference: pd.DataFrame, contract: InputContract
) -> None:
    with pytest.raises(MonitoringError, match=r"lacks features \['age'\]"):
        DriftDetector(reference.drop(columns="age"), contract, drift_share=0.5)


def test_contract_frame_orders_columns_and_maps_nulls(contract: InputContract) -> None:
    rows = [{"occupation": 2, "age": None, "rate_marriage": 3}]
    frame = contract_frame(contract, rows)
    assert list(frame.columns) == FEATURES
    assert math.isnan(frame.loc[0, "age"])
    assert math.isnan(frame.loc[0, "educ"])
    assert frame.loc[0, "occupation"] == 2.0


def test_string_categories_accept_codes_and_strings() -> None:
    spec = FeatureSpec(name="colour", kind="categorical", categories=["red", "blue"])
    assert normalize_value(spec, 1) == "blue"
    assert normalize_value(spec, "red") == "red"
    assert math.isnan(normalize_value(spec, None))


def test_import_monitoring_does_not_import_evidently() -> None:
    import subprocess

    code = (
        "import sys, monitoring, monitoring.monitor, monitoring.server; "
        "sys.exit('evidently' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("window", ["unshifted", "shifted"])
def test_the_fast_path_and_the_full_report_agree(
    detector: DriftDetector, window: str, request: pytest.FixtureRequest
) -> None:
    rows = request.getfixturevalue(window).iloc[:300]
    fast, full = detector.run(rows), detector.report(rows)
    assert fast.dataset_drift == full.dataset_drift
    assert fast.drifted_count == full.drifted_count
    assert fast.drift_share == pytest.approx(full.drift_share)
    assert set(fast.features) == set(full.features)
    for name, verdict in full.features.items():
        mine = fast.features[name]
        assert (mine.method, mine.drifted) == (verdict.method, verdict.drifted), name
        assert mine.score == pytest.approx(verdict.score, rel=1e-6, abs=1e-9), name
        assert mine.threshold == pytest.approx(verdict.threshold), name


def test_methods_and_thresholds_can_be_overridden_per_feature_and_per_type(
    reference: pd.DataFrame, contract: InputContract, shifted: pd.DataFrame
) -> None:
    options = DriftOptions(
        0.5,
        methods={"numeric": "psi", "age": "wasserstein", "occupation": "jensenshannon"},
        thresholds={"age": 0.3},
    )
    detector = DriftDetector(reference, contract, options)
    fast = detector.run(shifted.iloc[:300])
    assert fast.features["age"].method == "wasserstein"
    assert fast.features["age"].threshold == pytest.approx(0.3)
    assert fast.features["educ"].method == "psi"
    assert fast.features["occupation"].method == "jensenshannon"
    assert fast.features["children"].method == "psi"  # the numeric type's override
    full = detector.report(shifted.iloc[:300])
    for name in ("age", "educ", "occupation"):
        assert full.features[name].method == fast.features[name].method
        assert full.features[name].drifted == fast.features[name].drifted
        assert full.features[name].score == pytest.approx(fast.features[name].score, rel=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (DriftOptions(0.5, methods={"height": "ks"}), "neither features"),
        (DriftOptions(0.5, methods={"age": "no-such-test"}), "unknown drift methods"),
    ],
)
def test_bad_overrides_say_what_is_wrong(
    reference: pd.DataFrame, contract: InputContract, options: DriftOptions, message: str
) -> None:
    with pytest.raises(MonitoringError, match=message):
        DriftDetector(reference, contract, options)
