"""`make bench`: measure side by side in one run and write docs/benchmarks.md.

1. Prediction latency, PyTorch eager fp32 vs ONNX Runtime fp32 and the served variant,
   batch 1 and 64: the default tabular MLP and the digits CNN (configs/digits.yaml).
2. HTTP with wrk, in alternating rounds: `/predict` (cache misses, hits, workers = cores,
   1,000 rows as columns) against a hand-written Starlette + ONNX Runtime server and the
   framework floors (plain uvicorn, BentoML mounted, quiet and native), with conclusions
   computed from the figures (bench/http.py, bench/goals.py).
3. `/predict` with the Redis cache and with adaptive batching, beside the default and the
   hand-written server (bench/variants.py).
4. The cache alone, in process: a hit vs a miss per backend (bench/cache.py).
5. Drift: check speed (hot path vs Evidently's report vs scipy), validity on real data
   streams, and `/predict` latency while drift checks run (bench/drift.py).
6. Compression: every variant of both models, the served one vs PyTorch eager, what
   pruning buys, achieved vs attainable compute (bench/compression.py).
7. Drift that hurts: label-free performance estimation (CBPE) and the harm policy against
   the realized accuracy on real shifts, tuning vs held-out scenarios (bench/harm.py).
8. /explain: SHAP latency per row (bench/explain.py).
9. Distillation against pruning at similar FLOPs on digits (bench/distill.py).
10. A K-fold ensemble against the single model (bench/ensemble.py).
11. Training the digits CNN on CUDA and on the CPU (bench/gpu_train.py; CUDA where present).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

from apps.launch import child_env, free_port, start_service, wait_http
from apps.settings import load_settings
from bench.cache import cache_latencies, cache_table, local_redis
from bench.compression import compression_section
from bench.distill import section as distill_section
from bench.drift import serving_during_checks, speed_section, validity_section
from bench.ensemble import section as ensemble_section
from bench.explain import section as explain_section
from bench.gpu_train import section as gpu_train_section
from bench.harm import section as harm_section
from bench.http import inputs, serving_section
from bench.latency import Latency, model_latencies
from bench.measure import Plan
from bench.models import train_model
from bench.profile import ONE_THREAD, profile_predict, profile_section
from bench.state import state_rows, state_section
from bench.variants import variants_section
from bench.wrk import Counters
from training.pipeline import TrainOutcome
from trainsmart.registry import Registry
from trainsmart.state import open_database

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


def latency_table(latencies: list[Latency]) -> list[str]:
    lines = [
        "| engine | batch | median ms | p90 ms | speed-up vs PyTorch eager |",
        "|---|---|---|---|---|",
    ]
    for lat in latencies:
        base = next(x for x in latencies if x.batch == lat.batch and x.engine.startswith("pytorch"))
        lines.append(
            f"| {lat.engine} | {lat.batch} | {lat.median_ms:.3f} | {lat.p90_ms:.3f} | "
            f"{base.median_ms / lat.median_ms:.2f}x |"
        )
    return lines


def write_report(path: Path, sections: list[list[str]]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {dt.datetime.now(tz=dt.UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}. Python {platform.python_version()}.",
        "Every figure in a table comes from the same run, measured one after another.",
    ]
    for section in sections:
        lines += ["", *section]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def _model_section(title: str, outcome: TrainOutcome, note: list[str]) -> list[str]:
    trained = outcome.trained
    frame = trained.dataset.frame.sample(frac=1.0, random_state=0)
    latencies = model_latencies(
        outcome.model,
        outcome.bundle.path / "variants" / "fp32.onnx",
        outcome.bundle.model_path,
        outcome.serving_variant,
        np.asarray(trained.encode(frame)),
    )
    return [title, "", *latency_table(latencies), "", *note]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=Plan.rounds, help="HTTP rounds per row")
    parser.add_argument("--seconds", type=float, default=Plan.seconds, help="seconds per round")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    workdir = Path(tempfile.mkdtemp(prefix="trainsmart-bench-"))
    config, fair = train_model(workdir, "fair")
    _, digits = train_model(workdir, "digits", "digits.yaml")
    sections = [
        _model_section(
            "## 1. Prediction latency: the default model (fair-affairs MLP, preprocessing in "
            "graph)",
            fair,
            [
                f"The registered bundle serves **{fair.serving_variant}**, chosen among the "
                "compressed variants (section 6) as the fastest within "
                "`training.compression.max_metric_drop`.",
            ],
        ),
        _model_section(
            "### The digits CNN (configs/digits.yaml)",
            digits,
            [
                f"Test accuracy of the served variant: "
                f"{digits.metrics['serving']['accuracy']:.4f} "
                f"(serves **{digits.serving_variant}**; see section 6 for every variant).",
            ],
        ),
    ]
    later = [  # measured first (no server is running yet), written last
        harm_section(),
        explain_section(config),
        distill_section(workdir / "distill"),
        ensemble_section(workdir / "ensemble"),
        gpu_train_section(workdir / "gpu_train"),
    ]
    frame = fair.trained.dataset.frame.sample(frac=1.0, random_state=0)
    records = frame.astype(float).to_dict(orient="records")
    bodies: list[object] = [{"instances": [row]} for row in records[:2000]]
    plan, counters, logs = Plan(args.rounds, args.seconds), Counters(), workdir / "logs"
    given = inputs(config)
    sections.append(serving_section(given, plan, logs / "http", counters)[1])
    one_row = records[0]
    profiles = {
        "one row": profile_predict(config, one_row),
        "1,000 rows as columns": profile_predict(config, [one_row] * 1000, env=ONE_THREAD),
    }
    sections.append(profile_section(profiles))
    with local_redis() as redis_url:
        sections.append(variants_section(given, redis_url, plan, logs / "variants", counters))
        settings = load_settings(config)
        registry = Registry(settings.paths.model_store, open_database(settings))
        cache_rows = cache_latencies(settings, registry, records, redis_url=redis_url)
    sections.append(
        [
            "## 4. The cache alone: a hit vs a miss, per backend (in process, no HTTP)",
            "",
            "`Predictor.predict_rows` on distinct single rows: first pass misses, second hits.",
            "",
            *cache_table(cache_rows),
        ]
    )
    sections.append(state_section(state_rows(given, plan, logs / "state", counters)))
    service = start_service(child_env(config), free_port(), workdir / "drift-service.log")
    try:
        wait_http(service, "/readyz")
        during = serving_during_checks(service.url + "/predict", bodies, str(ROOT))
    finally:
        service.stop()
    sections += [speed_section(), validity_section(), during]
    sections.append(compression_section(workdir / "compression"))
    sections += later
    print(write_report(args.out, sections))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
