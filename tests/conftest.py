"""Fixtures shared by every test package, chained along the object graph:
settings -> database -> registry / input log -> a registered tiny ONNX bundle.

The state database is SQLite unless ``TRAINSMART_TEST_DATABASE=postgresql``: then every
test's settings name a fresh database on one real PostgreSQL server started for the
session (tests/postgres.py), through ``TRAINSMART_DATABASE_URL`` so that the services,
monitors and jobs a test starts use it too; tests marked ``sqlite`` (they open the
SQLite file itself) are skipped in that run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper

from apps.settings import Settings, load_settings
from tests.postgres import PostgresServer, find_postgres_bin
from tests.services import RedisServer, require_binary
from trainsmart.registry import FeatureSpec, InputContract, Lineage, Registry
from trainsmart.state import Database, InputLog, open_database

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.pop("TRAINSMART_CONFIG", None)
os.environ.pop("TRAINSMART_DATABASE_URL", None)

TEST_DATABASE_ENV = "TRAINSMART_TEST_DATABASE"


def on_postgres() -> bool:
    """Whether this run puts every test's state on PostgreSQL."""
    return os.environ.get(TEST_DATABASE_ENV, "sqlite").lower() in ("postgresql", "postgres")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_postgres():
        return
    skip = pytest.mark.skip(
        reason="marked sqlite: runs in the SQLite pass (it opens the SQLite file, or picks its "
        "backends itself)"
    )
    for item in items:
        if "sqlite" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL cluster for the session (skipped if not installed, failed under
    make test-all); tests get databases of their own from ``postgres_url``."""
    with PostgresServer(find_postgres_bin()) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database()


FAIR_NUMERIC = ["rate_marriage", "age", "yrs_married", "children", "religious", "educ"]
FAIR_CATEGORICAL = ["occupation", "occupation_husb"]


def fair_contract() -> InputContract:
    features = [
        FeatureSpec(name=n, kind="numeric", min=0.0, max=60.0, nullable=n != "age")
        for n in FAIR_NUMERIC
    ] + [
        FeatureSpec(name=n, kind="categorical", categories=[1, 2, 3, 4, 5, 6])
        for n in FAIR_CATEGORICAL
    ]
    return InputContract(features=features, classes=["0", "1"])


def fair_row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "rate_marriage": 4.0,
        "age": 32.0,
        "yrs_married": 9.0,
        "children": 2.0,
        "religious": 3.0,
        "educ": 14.0,
        "occupation": 3,
        "occupation_husb": 4,
    }
    row.update(changes)
    return row


def logistic_onnx(path: Path, weights: np.ndarray, bias: float) -> None:
    """A real ONNX model: softmax([0, x.w + b]) with NaN imputed as 0 (Where/IsNaN)."""
    n = weights.shape[0]
    w = np.stack([np.zeros(n), weights], axis=1).astype(np.float32)
    b = np.array([0.0, bias], dtype=np.float32)
    nodes = [
        helper.make_node("IsNaN", ["input"], ["isnan"]),
        helper.make_node("Where", ["isnan", "zero", "input"], ["clean"]),
        helper.make_node("MatMul", ["clean", "W"], ["logits0"]),
        helper.make_node("Add", ["logits0", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "logistic",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.flatten().tolist()),
            helper.make_tensor("B", TensorProto.FLOAT, b.shape, b.tolist()),
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture
def settings(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    if on_postgres():
        monkeypatch.setenv("TRAINSMART_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return load_settings(data_dir=tmp_path / "data", model_name="fair")


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = open_database(settings)
    yield database
    database.close()


@pytest.fixture
def registry(settings: Settings, db: Database) -> Registry:
    return Registry(settings.paths.model_store, db)


@pytest.fixture
def input_log(db: Database) -> InputLog:
    return InputLog(db)


BundleFactory = Callable[..., str]


@pytest.fixture
def make_bundle(registry: Registry, tmp_path: Path) -> BundleFactory:
    """Register a tiny logistic ONNX bundle for model 'fair'; returns its version.
    ``write_model(path, weights, bias)`` writes another model.onnx (a broken one, say)."""
    counter = iter(range(1000))

    def make(
        bias: float = 0.0,
        scale: float = 0.1,
        promote: bool = True,
        write_model: Callable[[Path, np.ndarray, float], None] = logistic_onnx,
    ) -> str:
        staging = tmp_path / f"staging-{next(counter)}"
        staging.mkdir()
        contract = fair_contract()
        weights = np.linspace(-1, 1, len(contract.features)) * scale
        write_model(staging / "model.onnx", weights, bias)
        (staging / "contract.json").write_text(contract.model_dump_json())
        (staging / "metrics.json").write_text('{"serving": {"accuracy": 0.5}}')
        pd.DataFrame([fair_row() for _ in range(5)]).to_parquet(staging / "reference.parquet")
        bundle = registry.register("fair", staging, Lineage(dataset_fingerprint="test"))
        if promote:
            registry.promote("fair", bundle.version, reason="test")
        return bundle.version

    return make


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port (skipped if not installed; see
    tests/services.py); tests may kill, pause and restart it."""
    binary = require_binary("redis-server", apt_package="redis-server")
    for attempt in range(3):  # a free port can be taken between choosing and binding it
        server = RedisServer(binary, tmp_path / f"redis-{attempt}")
        try:
            server.start()
        except RuntimeError:
            if attempt == 2:
                raise
            continue
        break
    try:
        yield server
    finally:
        server.stop()


def linear_onnx(path: Path, weights: np.ndarray, bias: float) -> None:
    """A real ONNX regression model: value = x.w + b ``[n, 1]``, NaN imputed as 0."""
    n = weights.shape[0]
    w = weights.reshape(n, 1).astype(np.float32)
    nodes = [
        helper.make_node("IsNaN", ["input"], ["isnan"]),
        helper.make_node("Where", ["isnan", "zero", "input"], ["clean"]),
        helper.make_node("MatMul", ["clean", "W"], ["raw"]),
        helper.make_node("Add", ["raw", "B"], ["value"]),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["batch", 1])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.flatten().tolist()),
            helper.make_tensor("B", TensorProto.FLOAT, [1], [bias]),
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
