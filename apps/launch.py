"""Start and stop the real service and monitor as child processes (demo, tests, bench)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """A child process with its log file; ``stop()`` ends it and its process group."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int | None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout_s)
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    name: str,
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    url: str,
    cwd: Path = ROOT,
) -> Child:
    """``command`` in its own session, output appended to ``log_path``, at ``url``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Child(name, process, log_path, url)


def child_env(config: Path | None, **overrides: str) -> dict[str, str]:
    """The environment of a child: ours, the settings file, ``TRAINSMART_*`` overrides."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if config is not None:
        env["TRAINSMART_CONFIG"] = str(config)
    env.update(overrides)
    return env


def service_command(host: str, port: int, service: str = "serving.service:Trainsmart") -> list[str]:
    """The ``bentoml serve`` command line of a service in this project."""
    return [
        sys.executable, "-m", "bentoml", "serve", service,
        "--working-dir", str(ROOT), "--host", host, "--port", str(port),
    ]  # fmt: skip


def start_service(
    env: dict[str, str], port: int, log_path: Path, service: str = "serving.service:Trainsmart"
) -> Child:
    """``bentoml serve SERVICE`` on 127.0.0.1:``port``."""
    command = service_command("127.0.0.1", port, service)
    return spawn(service.split(":")[-1].lower(), command, env, log_path, f"http://127.0.0.1:{port}")


def start_bento(env: dict[str, str], port: int, log_path: Path, tag: str) -> Child:
    """``bentoml serve TAG`` (a built Bento; ``BENTOML_HOME`` in ``env`` names its store),
    run from the log's folder: in the project root, BentoML would read ``TAG`` as the
    import path of the project's own ``trainsmart`` package."""
    command = [
        sys.executable, "-m", "bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    return spawn("bento", command, env, log_path, f"http://127.0.0.1:{port}", log_path.parent)


def start_monitor(env: dict[str, str], port: int, log_path: Path) -> Child:
    """``trainsmart monitor`` with its metrics on 127.0.0.1:``port``."""
    env = {**env, "TRAINSMART_MONITORING__PORT": str(port)}
    command = [sys.executable, "-m", "apps.cli.main", "monitor"]
    return spawn("monitor", command, env, log_path, f"http://127.0.0.1:{port}")


def wait_http(child: Child, path: str, timeout_s: float = 120.0) -> None:
    """Wait until ``GET path`` answers 200, or raise with the child's log tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(
                f"{child.name} exited ({child.process.returncode}):\n{child.log_tail()}"
            )
        try:
            if httpx.get(child.url + path, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(
        f"{child.name} not ready at {child.url}{path} after {timeout_s:.0f}s:\n{child.log_tail()}"
    )
