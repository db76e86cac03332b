"""The service killed with SIGKILL in the middle of traffic: the input log opens, passes
SQLite's integrity check, and holds every row the service answered before it died.

Each answered request's ``request_id`` must be in the log (the row is committed before
the answer is sent); requests cut off by the kill may or may not be there, but never
half of one (a request's rows commit together).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest

from apps.launch import child_env, free_port, start_service, wait_http
from apps.settings import Settings
from tests.conftest import BundleFactory, fair_row

pytestmark = pytest.mark.server

CONCURRENCY = 16
KILL_AFTER_S = 3.0


async def _traffic(url: str, stop: asyncio.Event) -> list[tuple[str, int]]:
    """Two-row requests until the service dies; the (request_id, rows) of each answer."""
    answered: list[tuple[str, int]] = []
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:

        async def worker(seed: int) -> None:
            i = seed
            while not stop.is_set():
                rows = [fair_row(age=float(18 + i % 40)), fair_row(age=float(60 - i % 40))]
                i += CONCURRENCY
                try:
                    response = await client.post("/predict", json={"instances": rows})
                except httpx.TransportError:
                    return  # the service is gone
                if response.status_code == 200:
                    answered.append((response.json()["request_id"], len(rows)))

        await asyncio.gather(*(worker(k) for k in range(CONCURRENCY)))
    return answered


def _worker_pids(parent: int) -> list[int]:
    """BentoML's worker processes: the children of the serve process."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


@pytest.mark.sqlite  # checks the SQLite file's integrity after the kill
def test_sigkill_mid_traffic_leaves_every_answered_row_in_a_sound_log(
    settings: Settings, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    make_bundle()
    env = child_env(None, TRAINSMART_DATA_DIR=str(settings.data_dir), TRAINSMART_MODEL_NAME="fair")
    service = start_service(env, free_port(), tmp_path / "service.log")
    try:
        wait_http(service, "/readyz")

        async def scenario() -> list[tuple[str, int]]:
            stop = asyncio.Event()
            traffic = asyncio.create_task(_traffic(service.url, stop))
            await asyncio.sleep(KILL_AFTER_S)
            victims = [service.process.pid, *_worker_pids(service.process.pid)]
            for pid in victims:  # no chance to finish a write or flush anything
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
            stop.set()
            answered = await traffic
            with pytest.raises(httpx.TransportError):  # the kill took: nothing answers
                httpx.post(service.url + "/predict", json={"instances": [fair_row()]})
            return answered

        answered = asyncio.run(scenario())
    finally:
        service.stop()
    assert len(answered) > 50, "too little traffic before the kill to prove anything"

    db = sqlite3.connect(settings.paths.state_db)  # opens: WAL recovery on a killed writer
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        counts = dict(
            db.execute("SELECT request_id, count(*) FROM inputs GROUP BY request_id").fetchall()
        )
    finally:
        db.close()
    missing = [rid for rid, _ in answered if rid not in counts]
    assert not missing, f"{len(missing)} answered requests are not in the log"
    assert all(counts[rid] == rows for rid, rows in answered)
    assert set(counts.values()) == {2}, "a request was logged in part"
    assert len(counts) >= len(answered)  # at most the few cut off after their commit
    assert len(counts) - len(answered) <= CONCURRENCY
