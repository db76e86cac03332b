"""Faults that must degrade, never corrupt or crash with a traceback.

- A promoted bundle whose model does not match its contract is refused at load, with a
  reason, and the champion keeps serving: the checksums pass (the files are as
  registered), so only the load-time check between the ONNX graph and the contract can
  catch it.
- An unusable data directory (a file, or a state database that is not SQLite) is one
  clear error at start that says what to check, not a traceback or a silent fallback.
- A full disk while serving: the request that does not fit is refused (503), whole
  requests only are logged, and the log stays sound."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from apps.cli.main import cli
from serving.api import create_api
from serving.predictor import Predictor
from serving.runtime import ModelHolder, load_model
from serving.settings import ServingSettings
from tests.conftest import BundleFactory, fair_row, logistic_onnx
from trainsmart.errors import RegistryError, StateUnavailable
from trainsmart.registry import Registry
from trainsmart.state import InputLog

Writer = Callable[[Path, np.ndarray, float], None]


def _fewer_features(path: Path, weights: np.ndarray, bias: float) -> None:
    logistic_onnx(path, weights[:5], bias)  # the contract names 8


def _more_features(path: Path, weights: np.ndarray, bias: float) -> None:
    logistic_onnx(path, np.concatenate([weights, weights[:2]]), bias)


@pytest.mark.parametrize(
    ("write_model", "reason"),
    [(_fewer_features, "takes 5 features"), (_more_features, "takes 10 features")],
    ids=["model narrower than contract", "model wider than contract"],
)
def test_a_model_that_does_not_match_its_contract_is_refused_and_the_champion_serves(
    make_bundle: BundleFactory,
    holder: ModelHolder,
    predictor: Predictor,
    registry: Registry,
    write_model: Writer,
    reason: str,
) -> None:
    champion = make_bundle()
    assert holder.refresh()
    bad = make_bundle(write_model=write_model)  # registered and promoted: checksums hold
    registry.get("fair", bad).verify()
    with pytest.raises(RegistryError, match=reason):
        load_model(registry, "fair", bad, ServingSettings())
    assert not holder.refresh()  # refused: the holder keeps what it had
    client = TestClient(create_api(lambda: predictor))
    response = client.post("/predict", json={"instances": [fair_row()]})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == champion


@pytest.mark.parametrize(
    ("make_bad", "cause"),
    [
        (lambda d: d.write_text("not a directory"), "File exists"),
        (
            lambda d: (d.mkdir(), (d / "trainsmart.db").write_bytes(b"\0garbage" * 512)),
            "not a database",
        ),
    ],
    ids=["data_dir is a file", "state database is not SQLite"],
)
def test_an_unusable_data_dir_is_a_clear_error_at_start(
    tmp_path: Path, make_bad: Callable[[Path], object], cause: str
) -> None:
    data_dir = tmp_path / "data"
    make_bad(data_dir)
    result = CliRunner().invoke(cli, ["models", "list"], env={"TRAINSMART_DATA_DIR": str(data_dir)})
    assert result.exit_code == 1, result.output
    assert "cannot be opened and written" in result.output and cause in result.output
    assert "writable directory (data_dir) with free space" in result.output
    assert "Traceback" not in result.output


@pytest.mark.sqlite  # fills the disk under the SQLite file
def test_a_full_disk_refuses_the_request_with_503_and_corrupts_nothing(
    make_bundle: BundleFactory, holder: ModelHolder, predictor: Predictor, input_log: InputLog
) -> None:
    """SQLite's page limit stands in for a full disk (the same SQLITE_FULL error): the
    request that does not fit is a 503 saying so, nothing of it is logged, the rows
    before it are intact, and the log serves again once there is room."""
    make_bundle()
    holder.refresh()
    conn = input_log.db.connection()  # this thread's connection: predict() runs here
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    served = 0
    with pytest.raises(StateUnavailable, match="could not be written") as refused:
        for i in range(10_000):
            rows = [fair_row(age=float(18 + i % 50), educ=float(i % 20)) for _ in range(20)]
            predictor.predict({"instances": rows})
            served += 20
    assert "full" in str(refused.value) and refused.value.status_code == 503
    assert served > 0 and input_log.count("fair") == served  # whole requests only
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.execute("PRAGMA max_page_count = 1073741823")  # room again
    predictor.predict({"instances": [fair_row()]})
    assert input_log.count("fair") == served + 1
