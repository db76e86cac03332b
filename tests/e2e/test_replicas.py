"""Real-server tier: two service replicas and one monitor on shared PostgreSQL, Redis and
model store, as they would run on several machines (here: several ports of one).

Each replica has its own data directory; what they share is only what the settings
name: ``database_url`` (a real PostgreSQL server), ``serving.redis_url`` (a real Redis)
and ``model_store`` (one directory, as a ReadWriteMany volume would be). Skipped without
PostgreSQL or Redis in ``make test``; required in ``make test-all``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from apps.launch import Child, child_env, free_port, start_monitor, start_service, wait_http
from apps.settings import Settings, load_settings
from tests.conftest import fair_contract, logistic_onnx
from tests.services import RedisServer
from trainsmart.registry import Lineage, Registry
from trainsmart.state import InputLog

pytestmark = [pytest.mark.server, pytest.mark.sqlite]  # brings its own PostgreSQL database

RELOAD_S = 0.5
WINDOW = 120


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str) -> Settings:
    """Overrides the shared fixture: the state on PostgreSQL, a shared model store."""
    return load_settings(
        data_dir=tmp_path / "cli",
        model_name="fair",
        database_url=postgres_url,
        model_store=tmp_path / "shared-store",
    )


def fair_frame() -> pd.DataFrame:
    import statsmodels.api as sm

    data: pd.DataFrame = sm.datasets.fair.load_pandas().data
    return data[[f.name for f in fair_contract().features]].astype(float)


def register(registry: Registry, tmp_path: Path, reference: pd.DataFrame, bias: float) -> str:
    staging = tmp_path / f"staging-{bias}"
    staging.mkdir()
    contract = fair_contract()
    weights = np.linspace(-1, 1, len(contract.features)) * 0.1
    logistic_onnx(staging / "model.onnx", weights, bias)
    (staging / "contract.json").write_text(contract.model_dump_json())
    (staging / "metrics.json").write_text('{"serving": {"accuracy": 0.5}}')
    reference.to_parquet(staging / "reference.parquet")
    return registry.register("fair", staging, Lineage(dataset_fingerprint="fair")).version


@pytest.fixture
def replicas(
    settings: Settings, registry: Registry, redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[Child, Child, Child]]:
    data = fair_frame()
    reference = data[(data.age < 30)].sample(300, random_state=0)
    v1 = register(registry, tmp_path, reference, bias=-1.0)
    registry.promote("fair", v1, reason="first")
    register(registry, tmp_path, reference, bias=1.0)  # v2, promoted by the test
    assert settings.database_url is not None
    shared = {
        "TRAINSMART_DATABASE_URL": settings.database_url.get_secret_value(),
        "TRAINSMART_MODEL_STORE": str(settings.paths.model_store),
        "TRAINSMART_MODEL_NAME": "fair",
    }
    children = [
        start_service(
            child_env(
                None,
                **shared,
                TRAINSMART_DATA_DIR=str(tmp_path / name),
                TRAINSMART_SERVING__CACHE_BACKEND="redis",
                TRAINSMART_SERVING__REDIS_URL=redis_server.url,
                TRAINSMART_SERVING__RELOAD_INTERVAL_S=str(RELOAD_S),
            ),
            free_port(),
            tmp_path / f"{name}.log",
        )
        for name in ("replica-a", "replica-b")
    ]
    monitor_env = child_env(
        None,
        **shared,
        TRAINSMART_DATA_DIR=str(tmp_path / "monitor"),
        TRAINSMART_MONITORING__WINDOW_ROWS=str(WINDOW),
        TRAINSMART_MONITORING__INTERVAL_S="0.5",
        TRAINSMART_MONITORING__DRIFT_SHARE="0.25",
        TRAINSMART_MONITORING__RETRAIN_ENABLED="false",
    )
    children.append(start_monitor(monitor_env, free_port(), tmp_path / "monitor.log"))
    try:
        yield children[0], children[1], children[2]
    finally:
        for child in children:
            child.stop()


def predict(child: Child, rows: list[dict[str, float]]) -> dict[str, object]:
    answer = httpx.post(child.url + "/predict", json={"instances": rows}, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def gauge(child: Child, name: str) -> float | None:
    for line in httpx.get(child.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + "{") and 'model="fair"' in line:
            return float(line.split()[-1])
    return None


def test_two_replicas_share_the_log_the_cache_the_drift_and_the_promotions(
    replicas: tuple[Child, Child, Child],
    registry: Registry,
    input_log: InputLog,
    settings: Settings,
) -> None:
    a, b, monitor = replicas
    for child in (a, b):
        wait_http(child, "/readyz", timeout_s=120)
    wait_http(monitor, "/metrics", timeout_s=120)

    # a row cached by one replica is a hit on the other (one Redis, the same version)
    row = {**fair_frame().iloc[0].to_dict(), "age": 33.0}
    first, second = predict(a, [row]), predict(b, [row])
    assert first["predictions"][0]["cached"] is False  # type: ignore[index]
    assert second["predictions"][0]["cached"] is True  # type: ignore[index]
    assert first["predictions"][0]["probabilities"] == second["predictions"][0]["probabilities"]  # type: ignore[index]

    # drifted traffic split over both replicas lands in one log and one window
    data = fair_frame()
    shifted = data[(data.age >= 37) & (data.yrs_married >= 16.5)].head(WINDOW)
    rows = shifted.to_dict(orient="records")
    served = {"a": set(), "b": set()}  # type: dict[str, set[str]]
    for i in range(0, len(rows), 10):
        name, child = ("a", a) if (i // 10) % 2 == 0 else ("b", b)
        served[name].add(str(predict(child, rows[i : i + 10])["request_id"]))
    ids = {
        name: {r.id for rid in request_ids for r in input_log.request(rid)}
        for name, request_ids in served.items()
    }
    assert sum(map(len, ids.values())) == WINDOW and input_log.count("fair") == WINDOW + 2

    journal = settings.data_dir.parent / "monitor" / "monitoring" / "fair.drift.jsonl"
    deadline = time.monotonic() + 90
    while not journal.is_file() or not journal.read_text().strip():
        assert time.monotonic() < deadline, f"no window checked:\n{monitor.log_tail()}"
        time.sleep(0.5)
    window = json.loads(journal.read_text().splitlines()[0])
    covered = set(range(window["first_id"], window["last_id"] + 1))
    assert ids["a"] & covered and ids["b"] & covered  # rows of both replicas in one window
    assert window["result"]["dataset_drift"] is True, window
    assert gauge(monitor, "trainsmart_dataset_drift") == 1.0

    # a promotion made in one place reaches both replicas within the reload interval
    promoted_at = time.monotonic()
    registry.promote("fair", "v2", reason="replica test")
    seen: dict[str, float] = {}
    while len(seen) < 2:
        for name, child in (("a", a), ("b", b)):
            if name not in seen and predict(child, [row])["version"] == "v2":
                seen[name] = time.monotonic() - promoted_at
        assert time.monotonic() - promoted_at < RELOAD_S + 30, f"not everywhere: {seen}"
        time.sleep(0.05)
    print(f"promotion reached the replicas after {seen}")
