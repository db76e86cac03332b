"""A real S3-compatible server for tests: ``moto_server`` (moto's HTTP server) on a free
loopback port, in memory. Clients reach it over HTTP exactly as they reach MinIO or AWS
(s3fs, boto3 with ``endpoint_url``); moto accepts any credentials.

Example::

    with MotoServer(find_moto_server(), tmp_path / "moto.log") as server:
        server.url       # http://127.0.0.1:<port>
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

from tests.services import Server, free_port, missing, stop_process, wait_until

INSTALL = "pip install 'moto[server,s3]'"


def find_moto_server() -> str:
    """``moto_server`` on PATH or beside this Python (a virtual environment that is not
    activated); skip the test without it, or fail under ``make test-all``."""
    beside = str(Path(sys.executable).parent)
    found = shutil.which("moto_server") or shutil.which("moto_server", path=beside)
    if found is None:
        missing("moto_server", INSTALL)
    return found


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class MotoServer(Server):
    """A throwaway ``moto_server``: loopback only, state in memory, its output in ``log``."""

    def __init__(self, binary: str, log: Path) -> None:
        self.binary = binary
        self.log = log
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0, tries: int = 3) -> None:
        """Start on a free port; try another if that one was taken meanwhile."""
        for _ in range(tries):
            if self._start_on(free_port(), timeout_s):
                return
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"moto_server did not start; {self.log} ends with:\n{tail}")

    def _start_on(self, port: int, timeout_s: float) -> bool:
        with self.log.open("ab") as out:
            command = [self.binary, "-H", "127.0.0.1", "-p", str(port)]
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self._process, self.port = process, port
        try:
            wait_until(
                lambda: process.poll() is None and _accepts(port), timeout_s, f"moto :{port}"
            )
        except TimeoutError:
            self.stop()
            return False
        return True

    def stop(self) -> None:
        stop_process(self._process)
