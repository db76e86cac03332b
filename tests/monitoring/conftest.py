"""Fixtures of the monitoring tests: the fair dataset split into reference and windows,
settings with small windows, and a registered 'fair' bundle whose reference is real data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pytest

from apps.settings import Settings, load_settings
from monitoring.settings import MonitoringSettings
from trainsmart.registry import FeatureSpec, InputContract, Lineage, Registry
from trainsmart.state import InputLog

NUMERIC = ["rate_marriage", "age", "yrs_married", "children", "religious", "educ"]
CATEGORICAL = ["occupation", "occupation_husb"]
FEATURES = NUMERIC + CATEGORICAL
WINDOW_ROWS = 200


def make_contract() -> InputContract:
    features = [FeatureSpec(name=n, kind="numeric") for n in NUMERIC] + [
        FeatureSpec(name=n, kind="categorical", categories=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        for n in CATEGORICAL
    ]
    return InputContract(features=features, classes=["0", "1"])


@pytest.fixture(scope="session")
def fair() -> pd.DataFrame:
    import statsmodels.api as sm

    data: pd.DataFrame = sm.datasets.fair.load_pandas().data
    return data[FEATURES].reset_index(drop=True)


@pytest.fixture(scope="session")
def contract() -> InputContract:
    return make_contract()


@pytest.fixture(scope="session")
def reference(fair: pd.DataFrame) -> pd.DataFrame:
    return fair.sample(600, random_state=0)


@pytest.fixture(scope="session")
def unshifted(fair: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Rows disjoint from the reference, drawn from the same population."""
    return fair.drop(reference.index).sample(frac=1.0, random_state=1)


@pytest.fixture(scope="session")
def shifted(fair: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Older couples married longer: a real subpopulation shift (1254 rows in all)."""
    rest = fair.drop(reference.index)
    return rest[(rest.age >= 37) & (rest.yrs_married >= 16.5)].sample(frac=1.0, random_state=2)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Overrides the shared fixture: small windows, 2 drifted windows trigger a retrain
    (no labelled rows needed: tests of that rule set monitoring.min_labelled_rows)."""
    return load_settings(
        data_dir=tmp_path / "data",
        model_name="fair",
        monitoring=MonitoringSettings(
            window_rows=WINDOW_ROWS,
            consecutive_windows=2,
            cooldown_s=3600.0,
            interval_s=0.05,
            job_timeout_s=60.0,
            min_labelled_rows=0,
            settle_s=0.0,  # rows are logged, then checked at once (PostgreSQL run included)
        ),
    )


class MakeBundle(Protocol):
    """The ``fair_bundle`` fixture: register a 'fair' bundle, returns its version."""

    def __call__(self, reference: pd.DataFrame | None = None, promote: bool = True) -> str: ...


@pytest.fixture
def fair_bundle(
    registry: Registry, reference: pd.DataFrame, contract: InputContract, tmp_path: Path
) -> MakeBundle:
    """Register (and promote) a 'fair' bundle with a real reference; returns its version.

    The reference is the session's in-distribution sample unless one is given.
    """
    counter = iter(range(1000))
    default_reference = reference

    def make(reference: pd.DataFrame | None = None, promote: bool = True) -> str:
        staging = tmp_path / f"staging-{next(counter)}"
        staging.mkdir()
        (staging / "model.onnx").write_bytes(b"not loaded by the monitor")
        (staging / "contract.json").write_text(contract.model_dump_json())
        (staging / "metrics.json").write_text(json.dumps({"fp32": {"accuracy": 0.7}}))
        rows = default_reference if reference is None else reference
        rows.to_parquet(staging / "reference.parquet")
        bundle = registry.register("fair", staging, Lineage(dataset_fingerprint="x"))
        if promote:
            registry.promote("fair", bundle.version, reason="test")
        return bundle.version

    return make


def log_rows(input_log: InputLog, version: str, frame: pd.DataFrame, tag: str) -> None:
    """Log ``frame`` as served by fair:``version`` (one request; NaN logged as null)."""
    rows = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
    preds = [{"class": "0"}] * len(rows)
    input_log.append(f"{tag}-{version}", "fair", version, rows, preds, [False] * len(rows))
