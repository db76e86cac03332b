"""The servers of the HTTP table: the hand-written one answers what trainsmart's model
answers, and every floor starts, echoes, and runs the workers it is asked for."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from apps.launch import Child
from apps.settings import Settings
from bench.servers import ServerSpec, bento, handwritten, started, uvicorn_echo
from serving.runtime import load_model
from tests.conftest import BundleFactory, fair_row
from trainsmart.registry import Registry


def test_handwritten_answers_the_probabilities_of_trainsmarts_model(
    make_bundle: BundleFactory, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    version = make_bundle(bias=0.3, scale=0.5)
    bundle = registry.get("fair", version)
    model = load_model(registry, "fair", version, settings.serving)
    rows = [fair_row(age=float(a), educ=float(e)) for a, e in [(18, 9), (32, 14), (60, 20)]]
    expected = [
        model.contract.prediction(p) for p in model.predict_proba(model.contract.to_matrix(rows))
    ]
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    with started([handwritten(bundle.model_path, bundle.contract())], tmp_path) as (server,):
        by_rows = httpx.post(server.url + "/predict", json={"instances": rows}).json()
        by_columns = httpx.post(server.url + "/predict", json={"columns": columns}).json()
    for answers in (by_rows["predictions"], by_columns["predictions"]):
        assert [a["class"] for a in answers] == [e["class"] for e in expected]
        for got, want in zip(answers, expected, strict=True):
            np.testing.assert_allclose(
                [got["probabilities"][c] for c in model.contract.classes],
                [want["probabilities"][c] for c in model.contract.classes],
                rtol=1e-6,
            )


def _workers(parent: int) -> int:
    """BentoML worker processes directly below ``bentoml serve`` (pid ``parent``)."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        count += ppid == parent and b"_bentoml_impl.worker" in cmdline
    return count


@pytest.mark.server
def test_every_floor_echoes_and_the_two_worker_floor_runs_two(tmp_path: Path) -> None:
    specs = [uvicorn_echo(), bento("Echo", 2), bento("EchoQuiet"), bento("EchoNative")]
    body = {"instances": [fair_row()]}
    with started(specs, tmp_path) as children:
        for child in children:
            answer = httpx.post(child.url + "/echo", json=body)
            assert answer.status_code == 200 and answer.json() == body, child.name
        assert [_workers(c.process.pid) for c in children[1:]] == [2, 1, 1]
        quiet = httpx.get(children[2].url + "/metrics")
        loud = httpx.get(children[1].url + "/metrics")
        deadline = time.monotonic() + 10
        while "path=/echo" not in children[1].log_tail() and time.monotonic() < deadline:
            time.sleep(0.1)
    assert "bentoml_" in loud.text and "bentoml_" not in quiet.text
    assert "path=/echo" in children[1].log_tail()  # BentoML's access log line
    assert "path=/echo" not in children[2].log_tail()


def test_a_server_that_exits_before_ready_is_started_again(tmp_path: Path) -> None:
    echo = uvicorn_echo()
    calls: list[int] = []

    def flaky(port: int, log: Path) -> Child:
        calls.append(port)
        if len(calls) == 1:  # the first start dies at once, like a port taken meanwhile
            command = [sys.executable, "-c", "raise SystemExit(3)"]
            return Child("dies", subprocess.Popen(command), log, f"http://127.0.0.1:{port}")
        return echo.launch(port, log)

    with started([ServerSpec("flaky", 1, flaky)], tmp_path) as (server,):
        assert httpx.post(server.url + "/echo", json={"a": 1}).json() == {"a": 1}
    assert len(calls) == 2
