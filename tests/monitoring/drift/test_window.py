"""What a window is checked for beyond data drift: data quality on crafted rows, prediction
drift against the model's own reference predictions, windows closed by time, and the
Evidently report kept on disk and served on the monitor's port."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from apps.settings import Settings
from monitoring.drift.frames import contract_frame
from monitoring.drift.options import DriftOptions
from monitoring.drift.prediction import PredictionReference
from monitoring.drift.quality import data_quality
from monitoring.drift.results import DriftResult
from monitoring.metrics import MonitorMetrics
from monitoring.monitor import Monitor
from monitoring.server import start_metrics_server
from monitoring.settings import MonitoringSettings
from tests.conftest import logistic_onnx
from tests.monitoring.conftest import FEATURES, MakeBundle, log_rows
from tests.monitoring.test_monitor import RecordingRunner
from tests.services import require_binary
from trainsmart.registry import FeatureSpec, InputContract, Lineage, Registry
from trainsmart.registry.bundle import Bundle
from trainsmart.state import Database, InputLog, JobStore


def test_data_quality_counts_missing_out_of_range_and_unseen() -> None:
    contract = InputContract(
        features=[
            FeatureSpec(name="age", kind="numeric", min=18.0, max=60.0),
            FeatureSpec(name="plan", kind="categorical", categories=["basic", "pro"]),
            FeatureSpec(name="grade", kind="categorical", categories=[1, 2, 3]),
        ],
        classes=["0", "1"],
    )
    rows = [
        {"age": 30, "plan": "basic", "grade": 1},
        {"age": None, "plan": "pro", "grade": 2.0},  # 2.0 is the known code 2
        {"age": 17.5, "plan": "gold", "grade": 4},
        {"age": 99, "plan": None, "grade": None},
        {"age": 60, "plan": 1, "grade": 3},  # a string category sent as its code
    ]
    quality = data_quality(contract, contract_frame(contract, rows))
    assert (quality["age"].missing, quality["age"].out_of_range, quality["age"].unseen) == (1, 2, 0)
    assert (quality["plan"].missing, quality["plan"].unseen) == (1, 1)
    assert (quality["grade"].missing, quality["grade"].unseen) == (1, 1)
    assert quality["age"].shares() == {"missing": 0.2, "out_of_range": 0.4, "unseen": 0.0}


@pytest.fixture
def scored_bundle(
    registry: Registry, reference: pd.DataFrame, contract: InputContract, tmp_path: Path
) -> str:
    """A 'fair' bundle with a real ONNX model (logistic on the features) and reference."""
    staging = tmp_path / "scored"
    staging.mkdir()
    # about 43% of the reference rows are class 1: unhappy marriages, married long
    weights = np.array([-0.6, 0.0, 0.12, 0.0, -0.3, 0.0, 0.0, 0.0])
    assert len(weights) == len(FEATURES)
    logistic_onnx(staging / "model.onnx", weights, bias=2.0)
    (staging / "contract.json").write_text(contract.model_dump_json())
    (staging / "metrics.json").write_text("{}")
    reference.to_parquet(staging / "reference.parquet")
    bundle = registry.register("fair", staging, Lineage(dataset_fingerprint="x"))
    registry.promote("fair", bundle.version, reason="test")
    return bundle.version


def test_prediction_drift_compares_with_the_models_own_reference_predictions(
    registry: Registry, scored_bundle: str, unshifted: pd.DataFrame
) -> None:
    bundle = registry.get("fair", scored_bundle)
    ref = PredictionReference.from_bundle(bundle)
    assert len(ref.values) == 600 and set(ref.values) == {"0", "1"}
    options = DriftOptions(0.5)
    # the model's own answers on fresh rows of the same population: no drift
    contract = bundle.contract()
    rows = unshifted.iloc[:300].to_dict(orient="records")
    clean = [{k: (None if v != v else v) for k, v in r.items()} for r in rows]
    same = [contract.prediction(p) for p in _run(bundle, contract.to_matrix(clean))]
    steady = ref.compare(same, options)
    assert steady is not None and steady.drifted is False
    # every answer the rarer class: the prediction distribution moved
    rare = ref.values.value_counts().idxmin()
    moved = ref.compare([{"class": rare}] * 300, options)
    assert moved is not None and moved.drifted is True and moved.score != steady.score
    assert ref.compare([], options) is None


def _run(bundle: Bundle, matrix: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(bundle.model_path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": matrix})[0])


@pytest.fixture
def clock() -> list[float]:
    return [time.time()]


def _monitor(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    db: Database,
    clock: list[float],
    **monitoring: object,
) -> Monitor:
    config = settings.monitoring.model_copy(update=monitoring)
    settings = settings.model_copy(update={"monitoring": config})
    jobs = JobStore(db)
    return Monitor(
        settings.monitoring_scope(),
        registry,
        input_log,
        jobs,
        RecordingRunner(jobs),
        MonitorMetrics(CollectorRegistry()),
        clock=lambda: clock[0],
    )


def test_a_window_closes_by_time_once_it_has_enough_rows(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    db: Database,
    fair_bundle: MakeBundle,
    unshifted: pd.DataFrame,
    clock: list[float],
) -> None:
    version = fair_bundle()
    monitor = _monitor(
        settings, registry, input_log, db, clock, window_seconds=60.0, min_window_rows=50
    )
    log_rows(input_log, version, unshifted.iloc[:80], "a")
    assert monitor.check_once() == []  # 80 of 200 rows, and young
    clock[0] += 61
    (window,) = monitor.check_once()
    assert window.drift.rows == 80
    log_rows(input_log, version, unshifted.iloc[80:110], "b")
    clock[0] += 120
    assert monitor.check_once() == []  # old enough, but 30 < min_window_rows
    log_rows(input_log, version, unshifted.iloc[110:310], "c")
    (full,) = monitor.check_once()  # 230 rows waiting: a full 200-row window
    assert full.drift.rows == 200


def test_a_drifted_window_leaves_an_evidently_report_served_on_the_port(
    settings: Settings,
    registry: Registry,
    input_log: InputLog,
    db: Database,
    fair_bundle: MakeBundle,
    shifted: pd.DataFrame,
    clock: list[float],
    tmp_path: Path,
) -> None:
    version = fair_bundle()
    monitor = _monitor(settings, registry, input_log, db, clock, reports_keep=2)
    for k in range(3):
        log_rows(input_log, version, shifted.iloc[k * 200 : (k + 1) * 200], f"s{k}")
    windows = monitor.check_once()
    assert [w.drift.dataset_drift for w in windows] == [True, True, True]
    kept = monitor.reports.all()
    assert [p.name for p in kept] == [f"{version}-w2.html", f"{version}-w1.html"]  # keep 2
    port_settings = settings.model_copy(update={"monitoring": MonitoringSettings(port=0)})
    server, thread = start_metrics_server(
        port_settings.monitoring, CollectorRegistry(), reports=monitor.reports
    )
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(url + "/report", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/html")
            assert len(response.read()) > 10_000
        with urllib.request.urlopen(url + "/reports", timeout=10) as response:
            assert json.loads(response.read())["reports"] == [str(p) for p in kept]
        _check_rendered(url + "/report", tmp_path, windows[-1].drift)  # the newest: w2
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class DriftTable(HTMLParser):
    """The rows of the rendered drift table (``<tr data-testid="mtablebodyrow">``): the text
    of each of their cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr" and ("data-testid", "mtablebodyrow") in attrs:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _check_rendered(url: str, tmp_path: Path, drift: DriftResult) -> None:
    """Headless Chromium renders the report (Evidently draws it with JavaScript): the drift
    table names each feature with the verdict and score this window's check found, and the
    summary counts the drifted ones."""
    chromium = require_binary("chromium", "chromium")
    done = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
            f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", url,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    table = DriftTable()
    table.feed(done.stdout)
    rendered = {}
    for cells in table.rows:
        name, verdicts = cells[1], [c for c in cells if c in ("Detected", "Not Detected")]
        assert len(verdicts) == 1, cells
        rendered[name] = (verdicts[0] == "Detected", float(cells[-1]))
    assert sorted(rendered) == sorted(drift.features), table.rows
    for name, feature in drift.features.items():
        verdict, score = rendered[name]
        assert verdict == feature.drifted, (name, rendered[name], feature)
        assert score == pytest.approx(feature.score, abs=1e-6), (name, rendered[name], feature)
    drifted, total = drift.drifted_count, len(drift.features)
    summary = f"Drift is detected for {100 * drifted / total:.1f}% of columns ({drifted} out of"
    assert f"{summary} {total})." in done.stdout
    assert {n for n, (d, _) in rendered.items() if d} >= {"yrs_married", "age"}  # the shift


def test_the_report_route_says_when_there_is_none_yet(settings: Settings, tmp_path: Path) -> None:
    from monitoring.records.reports import ReportStore

    port_settings = settings.model_copy(update={"monitoring": MonitoringSettings(port=0)})
    store = ReportStore(tmp_path / "reports", "fair", keep=3)
    server, thread = start_metrics_server(
        port_settings.monitoring, CollectorRegistry(), reports=store
    )
    try:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/report", timeout=10)
        assert raised.value.code == 404
        assert "no drift report yet" in json.loads(raised.value.read())["error"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
