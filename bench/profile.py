"""Where a `/predict` worker spends its CPU under load: py-spy samples, grouped by part.

``make bench`` runs it on the real service (one worker, fresh rows from wrk, 16
connections) and writes the shares into docs/benchmarks.md; run it alone with
``python -m bench.profile CONFIG``. Each part is the share of samples whose stack passes
through any of its frames (a sample counts once per part; parts can overlap only where a
frame belongs to two, which the groups below avoid).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.launch import child_env, free_port, start_service, wait_http
from bench.wrk import Fresh, run_wrk

PARTS: dict[str, tuple[str, ...]] = {
    "input log (SQLite write and commit)": ("InputLog.append",),
    "ONNX Runtime": ("Session.run",),
    "Prometheus metrics": ("prometheus_client/",),
    "validation and encoding": ("InputContract.to_matrix", "Predictor._columns"),
    "cache": ("serving/cache/",),
    "JSON parse and render": ("read_json", "JSONResponse", "json/encoder.py"),
    "sending the answer (uvicorn)": ("RequestResponseCycle.send",),
}


ONE_THREAD = {"TRAINSMART_SERVING__INLINE_MAX_BODY_BYTES": str(1 << 20)}
"""Large bodies answered on the event loop too, so that one thread holds every sample
(in the thread pool the GIL waits of several threads would count as work)."""


LOOP = "Runner.run (asyncio/runners.py"
"""The event loop's thread: the samples counted (other threads, such as the shadow mirror
or the reloader, mostly wait)."""


@dataclass(frozen=True)
class Profile:
    samples: int
    shares: dict[str, float]
    """Part -> share of all samples of the worker (0..1)."""


def shares(raw: str) -> Profile:
    """Group py-spy's ``--format raw`` output (``frame;frame;... count`` lines) by part."""
    total = 0
    hits: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or LOOP not in stack:
            continue
        total += int(count)
        for part, needles in PARTS.items():
            if any(needle in stack for needle in needles):
                hits[part] += int(count)
    return Profile(total, {part: hits[part] / total if total else 0.0 for part in PARTS})


def worker_pid(parent: int) -> int:
    """The BentoML worker process below ``bentoml serve`` (pid ``parent``)."""
    found = subprocess.run(
        ["pgrep", "-f", "-P", str(parent), "_bentoml_impl.worker"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not found:  # the worker is a grandchild under the circus arbiter
        children = subprocess.run(
            ["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False
        ).stdout.split()
        for child in children:
            found += subprocess.run(
                ["pgrep", "-f", "-P", child, "_bentoml_impl.worker"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
    if not found:
        raise RuntimeError(f"no BentoML worker process below pid {parent}")
    return int(found[0])


def profile_predict(
    config: Path,
    rows: dict[str, Any] | list[dict[str, Any]],
    seconds: float = 8.0,
    env: dict[str, str] | None = None,
) -> Profile:
    """Sample one `/predict` worker for ``seconds`` under wrk load: requests of ``rows``
    (one row, or a list sent as columns) never sent before."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    workdir = Path(tempfile.mkdtemp(prefix="trainsmart-profile-"))
    service = start_service(child_env(config, **(env or {})), free_port(), workdir / "service.log")
    try:
        wait_http(service, "/readyz")
        url = service.url + "/predict"
        run_wrk(url, Fresh(rows, offset=-1), seconds=2.0)  # warm-up, rows apart from the measured
        pid = worker_pid(service.process.pid)
        load = threading.Thread(
            target=run_wrk,
            args=(url, Fresh(rows, offset=1)),
            kwargs={"seconds": seconds + 2},
        )
        load.start()
        out = workdir / "profile.txt"
        subprocess.run(
            [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200", "-f", "raw",
             "-o", str(out)],
            capture_output=True,
            check=True,
        )  # fmt: skip
        load.join()
        return shares(out.read_text())
    finally:
        service.stop()


def profile_section(profiles: dict[str, Profile]) -> list[str]:
    """Markdown: one column of shares per load, and the SQLite write's share stated."""
    names = list(profiles)
    lines = [
        "### Where a `/predict` worker's CPU goes (py-spy, cache misses, 16 connections)",
        "",
        "Samples of the one worker while wrk drives it (for the columnar load, large bodies "
        "are answered on the event loop too, so that the event loop's thread holds every "
        "request's work; "
        + ", ".join(f"{name}: {p.samples}" for name, p in profiles.items())
        + " samples of that thread). A part's share counts the samples whose stack passes "
        "through it.",
        "",
        "| part | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for part in PARTS:
        lines.append(
            f"| {part} | " + " | ".join(f"{p.shares[part]:.0%}" for p in profiles.values()) + " |"
        )
    log = "input log (SQLite write and commit)"
    lines += [
        "",
        "The input log's write (one SQLite transaction per request, on the event loop) takes "
        + "; ".join(f"{p.shares[log]:.0%} of the worker for {name}" for name, p in profiles.items())
        + ".",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    row = {"rate_marriage": 4.0, "age": 32.0, "yrs_married": 9.0, "children": 2.0,
           "religious": 3.0, "educ": 16.0, "occupation": 3.0, "occupation_husb": 4.0}  # fmt: skip
    profiles = {
        "one row": profile_predict(args.config, row),
        "1,000 rows as columns": profile_predict(args.config, [row] * 1000, env=ONE_THREAD),
    }
    print("\n".join(profile_section(profiles)))


if __name__ == "__main__":
    main()
