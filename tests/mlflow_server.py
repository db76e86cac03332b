"""A real ``mlflow server`` for tests, started like ``tests/services.py`` starts Redis.

SQLite backend and local artifacts in a temporary folder, a free loopback port, one
worker, its job runner off (it forks a dozen consumers otherwise); stopped with its whole
process group (the CLI starts uvicorn as a child).

Example::

    binary = require_mlflow()
    with MlflowServer(binary, tmp_path) as server:
        server.uri                      # http://127.0.0.1:<port>
        MlflowClient(server.uri).search_experiments()
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.services import Server, free_port, missing, require_module, wait_until

START_TIMEOUT_S = 120.0
"""mlflow server imports its whole web app before it answers: ~15 s on a busy 2-core box."""


def require_mlflow() -> str:
    """The ``mlflow`` executable of this environment (beside ``sys.executable``); skip
    without it, or fail under TRAINSMART_REQUIRE_SERVICES=1."""
    require_module("mlflow", pip="pip install -e '.[mlflow]'")
    binary = Path(sys.executable).with_name("mlflow")
    if not binary.is_file():
        missing("the mlflow executable", "pip install -e '.[mlflow]'")
    return str(binary)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class MlflowServer(Server):
    """A throwaway ``mlflow server``: loopback only, its own SQLite file and artifact folder."""

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port if port is not None else free_port()
        self.log = workdir / "mlflow.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start on ``self.port`` and wait until ``/health`` answers."""
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError(f"mlflow server on port {self.port} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [self.binary, "server", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", "1"]
        command += ["--backend-store-uri", f"sqlite:///{(self.workdir / 'mlflow.db').as_posix()}"]
        command += ["--artifacts-destination", str(self.workdir / "artifacts")]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        process = self._process
        try:
            wait_until(
                lambda: process.poll() is None and _healthy(self.port),
                timeout_s,
                f"mlflow server on port {self.port}",
            )
        except TimeoutError as exc:
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"{exc} (exit code {process.returncode}); its log {self.log} ends with:\n{tail}"
            ) from None

    def stop(self) -> None:
        """SIGTERM to the server's process group (the CLI and its uvicorn child); SIGKILL to
        what is left of it after 10 s."""
        process = self._process
        if process is None or not _group_alive(process.pid):
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            wait_until(
                lambda: process.poll() is not None and not _group_alive(process.pid),
                10.0,
                "mlflow server exit",
            )
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies aside)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
