"""The servers the HTTP tables measure, each a child process on a free loopback port.

* :func:`handwritten`: ``python -m bench.handwritten`` (Starlette, uvicorn with uvloop and
  httptools, ONNX Runtime) on the model /predict serves;
* :func:`uvicorn_echo`: the FastAPI echo app under plain uvicorn (same loop and parser);
* :func:`bento`: a BentoML service of ``bench.echo_service`` (mounted, quiet or native
  echo), ``workers`` of them through ``BENCH_ECHO_WORKERS``;
* :func:`trainsmart`: ``serving.service:Trainsmart`` with the bench's settings file and
  ``TRAINSMART_SERVING__WORKERS``, plus any other ``TRAINSMART_*`` overrides.

:func:`started` starts a list of them at once, waits until each answers ``GET /readyz``
and stops them all on the way out.

Example::

    with started([uvicorn_echo(), trainsmart(config)], logs) as children:
        urls = [child.url for child in children]
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from apps.launch import Child, child_env, free_port, spawn, start_service, wait_http
from bench.echo_service import WORKERS_ENV
from trainsmart.registry import InputContract

logger = logging.getLogger("trainsmart.bench")

Launch = Callable[[int, Path], Child]
"""Start a server on a port, its output going to a log file."""


@dataclass(frozen=True)
class ServerSpec:
    """A server to start: a name for its log, its worker processes, how to start it."""

    name: str
    workers: int
    launch: Launch


def _spawn(name: str, command: list[str], port: int, log: Path) -> Child:
    return spawn(name, command, child_env(None), log, f"http://127.0.0.1:{port}")


def handwritten(model: Path, contract: InputContract) -> ServerSpec:
    """The hand-written Starlette + ONNX Runtime server on ``model``."""

    def launch(port: int, log: Path) -> Child:
        command = [
            sys.executable, "-m", "bench.handwritten", "--model", str(model),
            "--port", str(port), "--features", ",".join(contract.feature_names),
            "--classes", ",".join(contract.classes), "--output", contract.output_name,
        ]  # fmt: skip
        return _spawn("handwritten", command, port, log)

    return ServerSpec("handwritten", 1, launch)


def uvicorn_echo() -> ServerSpec:
    """``bench.echo_service:app`` under uvicorn (uvloop, httptools, no access log)."""

    def launch(port: int, log: Path) -> Child:
        command = [
            sys.executable, "-m", "uvicorn", "bench.echo_service:app",
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        return _spawn("uvicorn-echo", command, port, log)

    return ServerSpec("uvicorn-echo", 1, launch)


def bento(service: str, workers: int = 1) -> ServerSpec:
    """``bentoml serve bench.echo_service:SERVICE`` with ``workers`` workers."""

    def launch(port: int, log: Path) -> Child:
        env = child_env(None, **{WORKERS_ENV: str(workers)})
        return start_service(env, port, log, f"bench.echo_service:{service}")

    return ServerSpec(f"{service.lower()}-{workers}w", workers, launch)


def trainsmart(config: Path, workers: int = 1, env: dict[str, str] | None = None) -> ServerSpec:
    """``serving.service:Trainsmart`` with the settings file ``config``."""
    extra = dict(env or {})

    def launch(port: int, log: Path) -> Child:
        overrides = {"TRAINSMART_SERVING__WORKERS": str(workers), **extra}
        return start_service(child_env(config, **overrides), port, log)

    return ServerSpec(f"trainsmart-{workers}w-{len(extra)}", workers, launch)


@contextmanager
def started(specs: list[ServerSpec], logs: Path, attempts: int = 3) -> Iterator[list[Child]]:
    """Start every server at once, wait until each is ready; stop them all afterwards. A
    server that exits before it is ready (its free port taken meanwhile, say) is started
    again on another port, up to ``attempts`` times in all."""
    with ExitStack() as stack:

        def launch(n: int, spec: ServerSpec, attempt: int) -> Child:
            child = spec.launch(free_port(), logs / f"{n}-{spec.name}-{attempt}.log")
            stack.callback(child.stop)
            return child

        children = [launch(n, spec, 0) for n, spec in enumerate(specs)]
        for n, spec in enumerate(specs):
            for attempt in range(1, attempts + 1):
                try:
                    wait_http(children[n], "/readyz", timeout_s=180.0)
                    break
                except RuntimeError as exc:  # exited before it was ready
                    if attempt == attempts:
                        raise
                    logger.warning("%s; starting it again on another port", exc)
                    children[n] = launch(n, spec, attempt)
        yield children
