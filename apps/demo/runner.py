"""Run the closed loop end to end and keep a timeline of what happened.

train v1 -> serve -> in-distribution traffic (no drift) -> benign shift (drift, the
estimated accuracy holds: no retrain, apps/demo/benign.py) -> shifted traffic ->
drift in consecutive windows -> retrain job -> v2 promoted -> service swaps ->
shifted traffic on v2 -> drift subsides. Artifacts go to one run directory.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from apps.demo.artifacts import print_summary, write_artifacts
from apps.demo.benign import run_benign_phase
from apps.demo.scenario import SHIFT_DESCRIPTION, build_scenario, write_config
from apps.demo.traffic import TrafficReplayer
from apps.launch import (
    Child,
    child_env,
    free_port,
    start_monitor,
    start_service,
    wait_http,
)
from apps.settings import Settings, load_settings
from trainsmart.registry import Registry
from trainsmart.state import JobStore, open_database


@dataclass
class Timeline:
    console: Console
    started: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, what: str, **details: Any) -> None:
        at = time.monotonic() - self.started
        self.events.append({"t_s": round(at, 1), "event": what, **details})
        extra = "  ".join(f"{k}={v}" for k, v in details.items())
        self.console.print(f"[cyan]{at:7.1f}s[/cyan]  {what}  [dim]{extra}[/dim]")


def read_windows(settings: Settings) -> list[dict[str, Any]]:
    """The monitor's drift results so far (one JSON object per window)."""
    path = settings.data_dir / "monitoring" / f"{settings.model_name}.drift.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait(what: str, check: Callable[[], Any], timeout_s: float, children: list[Child]) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for child in children:
            if not child.alive():
                raise RuntimeError(
                    f"{child.name} died while waiting for {what}:\n{child.log_tail()}"
                )
        time.sleep(0.5)
    raise TimeoutError(f"gave up waiting for {what} after {timeout_s:.0f}s")


def _windows_of(settings: Settings, version: str) -> list[dict[str, Any]]:
    return [w for w in read_windows(settings) if w.get("version") == version]


def run_demo(run_dir: Path | None = None, console: Console | None = None) -> dict[str, Any]:
    """Run the loop; return the summary (also written to ``run_dir/summary.json``)."""
    # lazy: training.pipeline imports torch
    from training.pipeline import train_and_register

    console = console or Console()
    stamp = dt.datetime.now(tz=dt.UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = (run_dir or Path("runs") / f"demo-{stamp}").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    timeline = Timeline(console)
    console.print(f"[bold]trainsmart demo[/bold] -> run directory {run_dir}")
    scenario = build_scenario(run_dir / "inputs")
    config = write_config(run_dir / "trainsmart.yaml", scenario, run_dir / "data", {})
    settings = load_settings(config)
    name = settings.model_name
    db = open_database(settings)
    registry, jobs = Registry(settings.paths.model_store, db), JobStore(db)

    outcome = train_and_register(settings.training_scope(), registry, progress=True)
    v1 = outcome.bundle.version
    registry.promote(name, v1, actor="demo", reason="demo: first model")
    timeline.add(f"trained and promoted {v1}", test_accuracy=_metric(outcome.bundle.metrics()))

    env = child_env(config)
    service = start_service(env, free_port(), run_dir / "logs" / "service.log")
    monitor = start_monitor(env, free_port(), run_dir / "logs" / "monitor.log")
    children = [service, monitor]
    summary: dict[str, Any] = {"run_dir": str(run_dir), "shift": SHIFT_DESCRIPTION}
    try:
        wait_http(service, "/readyz")
        wait_http(monitor, "/metrics")
        timeline.add("service and monitor up", service=service.url, monitor=monitor.url)
        client = httpx.Client(base_url=service.url, timeout=30.0)
        replayer = TrafficReplayer(client)
        window = settings.monitoring.window_rows

        rows, labels = scenario.rows(scenario.in_distribution)
        n_in = 3 * window
        replayer.replay("in-distribution", rows[:n_in], labels[:n_in])
        wins = _wait(
            "3 in-distribution windows",
            lambda: len(_windows_of(settings, v1)) >= 3 and _windows_of(settings, v1),
            120,
            children,
        )
        timeline.add(
            f"{len(wins)} in-distribution windows checked",
            dataset_drift=[_drifted(w) for w in wins],
        )

        summary["benign"] = run_benign_phase(
            scenario,
            v1,
            replayer,
            window,
            lambda: _windows_of(settings, v1),
            lambda what, check, timeout_s: _wait(what, check, timeout_s, children),
            lambda: jobs.last_created(name),
            timeline.add,
        )
        summary["benign"]["v1_test_accuracy"] = _metric(outcome.bundle.metrics())
        before_shift = len(_windows_of(settings, v1))
        shifted_rows, shifted_labels = scenario.rows(scenario.shifted)
        cursor = 0

        def send_shifted(n: int) -> str | None:
            nonlocal cursor
            version = replayer.replay(
                "shifted", shifted_rows[cursor : cursor + n], shifted_labels[cursor : cursor + n]
            )
            cursor += n
            return version

        timeline.add("shift begins", population=SHIFT_DESCRIPTION)
        # exactly the windows the policy needs, so the retrain sees the same rows every run
        policy = settings.monitoring
        k = policy.consecutive_windows if policy.trigger == "drift" else policy.estimated_windows
        send_shifted(k * window)
        job = _wait("a retrain job", lambda: jobs.last_created(name), 90, children)
        drifted = [w for w in _windows_of(settings, v1)[before_shift:] if _drifted(w)]
        timeline.add(
            "drift detected, retrain job started",
            job=job.id,
            drifted_windows=len(drifted),
            drift_share=_share(drifted[-1]) if drifted else None,
            reason=job.reason,
        )
        finished = _wait(
            "the retrain job to finish",
            lambda: (j := jobs.get(job.id)).status.finished and j,
            600,
            children,
        )
        result = finished.result or {}
        timeline.add(f"retrain job {finished.status.value}", reason=result.get("reason"))
        v2 = registry.production(name)
        if v2 == v1:
            raise RuntimeError(f"the challenger was not promoted: {finished.result}")
        swapped = _wait(f"the service to serve {v2}", lambda: send_shifted(10) == v2, 60, children)
        timeline.add(f"service swapped to {v2} without restart", swapped=bool(swapped))
        send_shifted(2 * window)
        wins2 = _wait(
            f"2 windows on {v2}",
            lambda: len(_windows_of(settings, str(v2))) >= 2 and _windows_of(settings, str(v2)),
            120,
            children,
        )
        timeline.add(
            f"{len(wins2)} windows on {v2}",
            dataset_drift=[_drifted(w) for w in wins2],
            drift_share=[_share(w) for w in wins2],
        )
        score = replayer.score
        summary.update(
            versions={"before": v1, "after": v2},
            accuracy_on_shifted_traffic={
                v: score.accuracy("shifted", v) for v in score.versions("shifted")
            },
            accuracy_in_distribution={
                v: score.accuracy("in-distribution", v) for v in score.versions("in-distribution")
            },
            requests=score.requests,
            failed_requests=score.failed_requests,
            feedback_labels=score.feedback_sent,
            drift_subsided=not any(_drifted(w) for w in wins2),
            accuracy_on_same_unseen_shifted_rows=_offline_accuracy(
                settings, registry, [v1, str(v2)], shifted_rows[cursor:], shifted_labels[cursor:]
            ),
            accuracy_on_same_unseen_in_distribution_rows=_offline_accuracy(
                settings, registry, [v1, str(v2)], rows[n_in:], labels[n_in:]
            ),
            retrain_job=finished.result,
        )
        _scrape(service, run_dir / "service-metrics.txt")
        _scrape(monitor, run_dir / "monitor-metrics.txt")
    except Exception as exc:  # any failure: keep the artifacts, say what broke, exit non-zero
        summary["error"] = f"{type(exc).__name__}: {exc}"
        (run_dir / "error.txt").write_text(traceback.format_exc())
        timeline.add("the loop did not close", error=summary["error"].splitlines()[0])
    finally:
        for child in children:
            child.stop()
        timeline.add("service and monitor stopped")
    write_artifacts(run_dir, settings, timeline.events, summary, jobs)
    print_summary(console, summary, run_dir)
    return summary


def _drifted(window: dict[str, Any]) -> bool:
    """Dataset drift of a journal line (a skipped window has no result: not drifted)."""
    return bool(window.get("result", {}).get("dataset_drift"))


def _share(window: dict[str, Any]) -> float | None:
    share = window.get("result", {}).get("drift_share")
    return None if share is None else round(float(share), 3)


def _offline_accuracy(
    settings: Settings,
    registry: Registry,
    versions: list[str],
    rows: list[dict[str, Any]],
    labels: list[str],
) -> dict[str, float]:
    """Accuracy of each version on the same shifted rows, none of them sent as traffic."""
    # lazy: serving.runtime imports onnxruntime, only for the demo's last check
    from serving.runtime import load_model

    scores = {}
    for version in versions:
        model = load_model(registry, settings.model_name, version, settings.serving)
        proba = model.predict_proba(model.contract.to_matrix(rows))
        predicted = [model.contract.classes[i] for i in proba.argmax(axis=1)]
        scores[version] = sum(p == t for p, t in zip(predicted, labels, strict=True)) / len(rows)
    return scores


def _metric(metrics: dict[str, Any]) -> float | None:
    served = metrics.get("serving", {})
    value = served.get("accuracy") if isinstance(served, dict) else None
    return None if value is None else round(float(value), 4)


def _scrape(child: Child, path: Path) -> None:
    try:
        path.write_text(httpx.get(child.url + "/metrics", timeout=5.0).text)
    except httpx.HTTPError as exc:
        path.write_text(f"# scrape failed: {exc}\n")
