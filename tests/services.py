"""Real external servers for tests (Redis now; Prometheus and Alertmanager can reuse this).

No mocks: a test that needs a server starts the real binary on a free loopback
port in a temporary directory and stops it afterwards. Every test that needs something
not always installed asks here (``require_binary`` for a program, ``require_module`` for
a Python package, ``binary_or_none`` for one optional check inside a larger test), and
``missing`` decides what happens without it:

- ``make test`` (plain pytest): the test is skipped, naming the install command;
- ``TRAINSMART_REQUIRE_SERVICES=1`` (``make test-all`` and ``.ci/run``): the test fails
  naming what is missing and the command, so a run cannot pass while silently skipping.

Only a missing GPU stays a plain skip (a machine without one cannot install it).

Example::

    binary = require_binary("redis-server", apt_package="redis-server")
    httpclient = require_module("tritonclient.http", pip="pip install -e '.[dev]'")
    with RedisServer(binary, tmp_path) as server:
        server.url          # redis://127.0.0.1:<port>/0
        server.kill()       # SIGKILL, like a crash
        server.start()      # same port again
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self

import pytest

REQUIRE_SERVICES_ENV = "TRAINSMART_REQUIRE_SERVICES"


def services_required() -> bool:
    """Whether a missing server or package fails the run (``TRAINSMART_REQUIRE_SERVICES=1``)."""
    return os.environ.get(REQUIRE_SERVICES_ENV) == "1"


def missing(what: str, install: str) -> NoReturn:
    """Skip the test because ``what`` is not installed, or fail it under
    ``TRAINSMART_REQUIRE_SERVICES=1``; both name ``install``, the command that fixes it."""
    if services_required():
        pytest.fail(
            f"{what} not installed, and {REQUIRE_SERVICES_ENV}=1 (make test-all, .ci/run) "
            f"requires it: {install}",
            pytrace=False,
        )
    pytest.skip(f"{what} not installed: {install}", allow_module_level=True)


def require_binary(name: str, apt_package: str) -> str:
    """The path of ``name`` on PATH; skip the test without it, or fail under test-all."""
    path = shutil.which(name)
    if path is None:
        missing(name, f"apt-get install -y {apt_package}")
    return path


def binary_or_none(name: str, apt_package: str) -> str | None:
    """The path of ``name``, or None so the caller leaves out the one check that needs it;
    under ``TRAINSMART_REQUIRE_SERVICES=1`` a missing binary fails the test instead."""
    path = shutil.which(name)
    if path is None and services_required():
        missing(name, f"apt-get install -y {apt_package}")
    return path


def require_module(name: str, pip: str) -> Any:
    """The imported module ``name``; skip the test without it (``pip`` names the command that
    installs it), or fail under test-all. For a whole module: ``x = require_module(...)`` at
    module level, like ``pytest.importorskip``."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python package {name}", pip)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` every 10 ms until it is true; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout_s:g} s")
        time.sleep(0.01)


def stop_process(process: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    """Terminate ``process``; kill it if it has not exited within ``timeout_s``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Server:
    """A throwaway server process: ``with`` starts it and, on the way out, ``close()`` s it
    (``stop()`` unless a server has more to clean up)."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _redis_pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(Server):
    """A throwaway ``redis-server``: loopback only, no persistence, its own directory."""

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port if port is not None else free_port()
        self.log = workdir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start on ``self.port`` (again, after ``kill``) and wait until it answers PING."""
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError(f"redis-server on port {self.port} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        process = self._process
        try:
            wait_until(
                lambda: process.poll() is None and _redis_pings(self.port),
                timeout_s,
                f"redis-server on port {self.port}",
            )
        except TimeoutError as exc:
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"{exc} (exit code {process.returncode}); its log {self.log} ends with:\n{tail}"
            ) from None

    def kill(self) -> None:
        """SIGKILL, as a crash: clients see refused connections from now on."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung server)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after ``pause``."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Terminate (resuming it first if paused); kill if it has not exited within 10 s."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)
        stop_process(self._process)
