"""Real-server tier: two BentoML workers follow one PUT /admin/candidate, pin the candidate,
shadow production traffic into the shared SQLite file, and keep the tokens out of the log."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from apps.launch import free_port, start_service, wait_http
from apps.settings import Settings
from tests.conftest import BundleFactory, fair_row
from tests.services import binary_or_none
from tests.serving.test_pinning import V2_INPUT
from tests.serving.test_server import service_env
from trainsmart.state import ShadowLog, open_database

pytestmark = pytest.mark.server

ADMIN = "server-admin-token-7d4f2a9c1b"
KEY = "server-api-key-0e5b8c3a6d"
RELOAD_S = 0.5


def worker_statuses(url: str, attempts: int = 8) -> dict[int, dict[str, object]]:
    """GET /admin/status over several concurrent connections, so that both workers answer;
    the status of each worker that did, by pid."""
    seen: dict[int, dict[str, object]] = {}
    lock = threading.Lock()

    def ask() -> None:
        with httpx.Client(timeout=10.0) as client:  # a fresh connection each time
            status = client.get(url + "/admin/status", headers={"Authorization": f"Bearer {ADMIN}"})
            assert status.status_code == 200, status.text
            with lock:
                seen[status.json()["pid"]] = status.json()

    threads = [threading.Thread(target=ask) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return seen


def test_two_workers_follow_one_candidate_change(
    settings: Settings, tmp_path: Path, make_bundle: BundleFactory
) -> None:
    v1 = make_bundle(bias=-1.0)
    v2 = make_bundle(bias=1.0, promote=False)
    env = service_env(
        settings,
        TRAINSMART_SERVING__WORKERS="2",
        TRAINSMART_SERVING__RELOAD_INTERVAL_S=str(RELOAD_S),
        TRAINSMART_SERVING__ADMIN_TOKEN=ADMIN,
        TRAINSMART_SERVING__API_KEYS=f'["{KEY}"]',
    )
    service = start_service(env, free_port(), tmp_path / "admin-service.log")
    key = {"X-API-Key": KEY}
    pinned_path = f"/v2/models/fair/versions/{v2}/infer"
    try:
        wait_http(service, "/readyz")
        with httpx.Client(base_url=service.url, timeout=30.0) as client:
            assert client.post(pinned_path, json=V2_INPUT, headers=key).status_code == 404
            assert client.post(pinned_path, json=V2_INPUT).status_code == 401
            assert client.get("/admin/status").status_code == 401
            changed = client.put(
                "/admin/candidate",
                json={"version": v2, "shadow": True},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert changed.status_code == 200, changed.text
            assert changed.json()["candidate"] == {"version": v2, "shadow": True}
        changed_at = time.monotonic()

        # both workers report the candidate within the reload interval (plus scheduling slack)
        following: dict[int, dict[str, object]] = {}
        while time.monotonic() - changed_at < RELOAD_S + 5.0:
            statuses = worker_statuses(service.url)
            following.update(
                {
                    pid: s
                    for pid, s in statuses.items()
                    if s["candidate"] == changed.json()["candidate"]
                }
            )
            if len(following) >= 2:
                break
            time.sleep(0.1)
        assert len(following) == 2, f"workers following {v2}: {sorted(following)}"

        answers: list[tuple[int, str | None]] = []

        def pin(i: int) -> None:
            with httpx.Client(base_url=service.url, timeout=30.0) as client:  # new connections
                r = client.post(pinned_path, json=V2_INPUT, headers=key)
                answers.append((r.status_code, r.json().get("model_version")))
                rows = {"instances": [fair_row(age=float(20 + i)), fair_row(educ=float(i))]}
                r = client.post("/predict", json=rows, headers=key)
                answers.append((r.status_code, r.json().get("version")))

        threads = [threading.Thread(target=pin, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(set(answers)) == [(200, v1), (200, v2)]
        assert answers.count((200, v2)) == 12

        # the production rows (2 per /predict) land in the shadow table, from both workers
        shadow = ShadowLog(open_database(settings))
        deadline = time.monotonic() + 20
        while shadow.count("fair", v2) < 24 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert shadow.count("fair", v2) == 24
        pairs = shadow.compare("fair", version=v2)
        assert {(p.champion_version, p.candidate_version) for p in pairs} == {(v1, v2)}

        scrape = httpx.get(service.url + "/metrics", timeout=30.0).text
        info = f'trainsmart_candidate_info{{model="fair",shadow="true",version="{v2}"}} 1.0'
        assert info in scrape
        assert (
            f'trainsmart_shadow_predictions_total{{model="fair",result="ok",version="{v2}"}} 24.0'
            in scrape
        )
    finally:
        service.stop()
    log = service.log_path.read_text()
    assert log.count("Service trainsmart initialized") == 2, "the service did not run two workers"
    assert ADMIN not in log and KEY not in log
    promtool = binary_or_none("promtool", apt_package="prometheus")
    if promtool is not None:  # the new metric names pass Prometheus' own checks
        check = subprocess.run(
            [promtool, "check", "metrics"], input=scrape, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
