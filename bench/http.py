"""Section 2 of `make bench`: `/predict` against a hand-written server and the framework
floors, measured with wrk in alternating rounds (:mod:`bench.measure`).

Rows: the hand-written server (:mod:`bench.handwritten`), the FastAPI echo under plain
uvicorn, BentoML's mounted echo (as trainsmart mounts its app), the same with BentoML's
access log and metrics off, BentoML's native ``@bentoml.api`` echo, `/predict` cache
misses and hits at 1 worker, the mounted echo and `/predict` misses with workers = cores,
and a block of rows sent as columns to the hand-written server and to `/predict`.
The conclusions under the table are computed from its figures (:mod:`bench.goals`).

Run this section alone (trains the default model unless ``--config`` names the settings
file of a trained and promoted one); it prints the table and writes it to ``--out``::

    .venv/bin/python -m bench.http --out /tmp/http.md --rounds 1 --seconds 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.settings import load_settings
from bench.goals import (
    BENTO_ECHO,
    BENTO_NATIVE,
    BENTO_QUIET,
    HITS,
    MISSES,
    UVICORN_ECHO,
    columnar_labels,
    conclusions,
)
from bench.measure import HANDWRITTEN, HttpRow, Load, Plan, Target, http_table, measure
from bench.models import train_model
from bench.servers import bento, handwritten, trainsmart, uvicorn_echo
from bench.wrk import Body, Counters, Fixed, Fresh
from trainsmart.registry import InputContract, Registry
from trainsmart.state import open_database


@dataclass(frozen=True)
class Inputs:
    """What the loads send and the hand-written server runs: the served model, its contract
    and rows of raw feature values."""

    config: Path
    model: Path
    contract: InputContract
    records: list[dict[str, Any]]


def inputs(config: Path) -> Inputs:
    """The production model of the settings file ``config`` and its drift reference rows."""
    settings = load_settings(config)
    registry = Registry(settings.paths.model_store, open_database(settings))
    version = registry.production(settings.model_name)
    if version is None:
        raise RuntimeError(f"no production version of {settings.model_name} in {config}")
    bundle = registry.get(settings.model_name, version)
    frame = bundle.reference().dropna().astype(float)
    records: list[dict[str, Any]] = frame.to_dict(orient="records")
    return Inputs(config, bundle.model_path, bundle.contract(), records)


def serving_targets(given: Inputs, workers: int) -> list[Target]:
    """Section 2's servers: the hand-written one, the floors, /predict with 1 and
    ``workers`` workers; single rows (fresh, or one fixed row for hits) and a block of
    rows sent as columns."""
    row = given.records[0]
    block = given.records[:1000]
    hw_columns, col_misses, col_hits = columnar_labels(len(block))
    columns = {k: [r[k] for r in block] for k in row}

    def one(label: str, path: str, body: Body) -> Load:
        return Load(label, path, body)

    def many(label: str, path: str, body: Body) -> Load:
        return Load(label, path, body, rows=len(block), versus=hw_columns)

    fresh = Fresh(row)
    return [
        Target(
            handwritten(given.model, given.contract),
            [one(HANDWRITTEN, "/predict", fresh), many(hw_columns, "/predict", Fresh(block))],
        ),
        Target(uvicorn_echo(), [one(UVICORN_ECHO, "/echo", fresh)]),
        Target(bento("Echo"), [one(BENTO_ECHO, "/echo", fresh)]),
        Target(bento("EchoQuiet"), [one(BENTO_QUIET, "/echo", fresh)]),
        Target(bento("EchoNative"), [one(BENTO_NATIVE, "/echo", fresh)]),
        Target(
            trainsmart(given.config),
            [
                one(MISSES, "/predict", fresh),
                one(HITS, "/predict", Fixed({"instances": [row]})),
                many(col_misses, "/predict", Fresh(block)),
                many(col_hits, "/predict", Fixed({"columns": columns})),
            ],
        ),
        Target(bento("Echo", workers), [one(BENTO_ECHO, "/echo", fresh)]),
        Target(trainsmart(given.config, workers), [one(MISSES, "/predict", fresh)]),
    ]


def notes(plan: Plan) -> list[str]:
    return [
        f"wrk, {plan.threads} thread, one JSON body per request; every server started once "
        f"and warmed up for {plan.warmup_s:g} s, then measured in {plan.rounds} rounds of "
        f"{plan.seconds:g} s per row that alternate between the servers. A cache-miss row "
        "carries a row never sent before in the run, warm-up included (two features varied "
        "per request); a cache-hit row sends one fixed body. /predict runs with "
        "validation, ONNX Runtime, the cache, the SQLite input log and metrics on. The "
        'columnar rows send the same block of rows as `{"columns": ...}` to the '
        "hand-written server and to /predict. wrk, the servers and the idle servers share "
        "this machine's cores. `failed`: 4xx/5xx answers plus socket errors and timeouts. "
        "`other CPU`: the share of the machine's CPU that processes outside the bench took "
        "while the row ran; a row beside a busy neighbour is not comparable.",
    ]


def serving_section(
    given: Inputs, plan: Plan, logs: Path, counters: Counters, workers: int | None = None
) -> tuple[list[HttpRow], list[str]]:
    """Section 2: the table and its conclusions."""
    workers = workers or max(2, os.cpu_count() or 2)
    rows = measure(serving_targets(given, workers), plan, logs, counters)
    lines = [
        "## 2. HTTP: `/predict` against a hand-written server and the framework floors",
        "",
        *notes(plan),
        "",
        *http_table(rows),
        "",
        *conclusions(rows, workers),
    ]
    return rows, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, help="settings file of a promoted model")
    parser.add_argument("--out", type=Path, help="write the section (markdown) here too")
    parser.add_argument("--rounds", type=int, default=Plan.rounds)
    parser.add_argument("--seconds", type=float, default=Plan.seconds)
    parser.add_argument("--warmup", type=float, default=Plan.warmup_s)
    parser.add_argument("--workers", type=int, help="the scaled rows' workers (default: cores)")
    args = parser.parse_args()
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    workdir = Path(tempfile.mkdtemp(prefix="trainsmart-bench-http-"))
    config = args.config or train_model(workdir, "fair")[0]
    plan = Plan(args.rounds, args.seconds, args.warmup)
    _, lines = serving_section(inputs(config), plan, workdir / "logs", Counters(), args.workers)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
        print(f"written to {args.out}; server logs in {workdir / 'logs'}")


if __name__ == "__main__":
    main()
