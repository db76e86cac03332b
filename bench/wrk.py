"""Drive one HTTP load with wrk (Debian's ``wrk``) and read its figures back.

wrk is a C load generator: one thread keeps ``connections`` requests in flight
and costs a fraction of what a Python client would on the same cores. Each load
gets a Lua script written for it (:func:`lua_script`):

* :class:`Fixed`: the same JSON body for every request (cache hits);
* :class:`Fresh`: bodies built per request from a base row (or a block of rows sent as
  ``{"columns": ...}``), with two numeric features replaced by values derived from a
  request counter, so no two requests anywhere in the run carry the same row (cache
  misses). Counters come from :class:`Counters`: every load takes its own range,
  measured loads counting up from 1 and warm-ups down from -1, so a row sent while
  warming up is never sent again while measuring.

The script's ``done()`` writes one JSON line: requests, errors (wrk counts 4xx and 5xx
answers in ``errors.status`` and nowhere else), the duration and the latency histogram,
so rounds merge exactly (:meth:`WrkResult.merge`). The histogram is the one wrk prints
its percentiles from: wrk 4 corrects it for coordinated omission (a response slower than
twice the mean interval adds the samples the stalled connection would have taken), so
it holds at least one sample per request.

Example::

    counters = Counters()
    body = Fresh({"rate_marriage": 4.0, "age": 32.0, ...})
    result = run_wrk("http://127.0.0.1:3000/predict", body, counters, seconds=6)
    result.rps, result.p99_ms, result.failed
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 500_000
"""Request counters one wrk thread may use in one load (checked after the run)."""
SPAN = 10_000
"""Counters per lap of the first nudged feature; the second moves one step per lap."""
MARK = "@@trainsmart-bench-value-{}@@"


@dataclass(frozen=True)
class Fixed:
    """The same JSON body for every request."""

    body: Any


@dataclass(frozen=True)
class Fresh:
    """A body never sent before for every request: ``rows`` (one object, or several sent
    as ``{"columns": ...}``) with the first two numeric features replaced by values
    derived from the request's counter; all rows of one request share those two values."""

    rows: dict[str, Any] | list[dict[str, Any]]
    offset: int = 0
    """Nonzero: use counter range ``offset`` (negative for a warm-up) instead of one from
    :class:`Counters`; for a one-off load on a server of its own (see fresh_rows_load)."""

    def records(self) -> list[dict[str, Any]]:
        return [self.rows] if isinstance(self.rows, dict) else list(self.rows)


Body = Fixed | Fresh


def fresh_rows_load(row: dict[str, Any], offset: int = 1) -> Fresh:
    """Fresh single rows from range ``offset``: -1 to warm up, then 1 to measure."""
    return Fresh(row, offset)


@dataclass
class Counters:
    """Disjoint ranges of request counters for the loads of one run. Counter 0 (the base
    row unchanged, which a cache-hit load may send) is never handed out."""

    up: int = BLOCK
    down: int = 0

    def take(self, threads: int, *, warmup: bool = False) -> int:
        """The first counter of a new range of ``threads * BLOCK`` (negative for warm-ups)."""
        if warmup:
            self.down -= threads * BLOCK
            return self.down
        start, self.up = self.up, self.up + threads * BLOCK
        return start


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: counts, seconds and the latency histogram (microseconds -> count)."""

    requests: int
    status_errors: int
    socket_errors: int
    seconds: float
    histogram: tuple[tuple[int, int], ...] = field(repr=False)

    @property
    def failed(self) -> int:
        """Non-2xx answers plus connect, read, write errors and timeouts."""
        return self.status_errors + self.socket_errors

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float:
        total = sum(count for _, count in self.histogram)
        if not total:
            return math.nan
        rank, seen = p / 100.0 * total, 0
        for micros, count in self.histogram:
            seen += count
            if seen >= rank:
                return micros / 1000.0
        return self.histogram[-1][0] / 1000.0

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @classmethod
    def merge(cls, parts: list[WrkResult]) -> WrkResult:
        """Rounds of one load as one: summed counts and seconds, histograms added."""
        merged: dict[int, int] = {}
        for part in parts:
            for micros, count in part.histogram:
                merged[micros] = merged.get(micros, 0) + count
        return cls(
            sum(p.requests for p in parts),
            sum(p.status_errors for p in parts),
            sum(p.socket_errors for p in parts),
            sum(p.seconds for p in parts),
            tuple(sorted(merged.items())),
        )


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal of ``text`` (no escaping inside)."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def _step(base: float, laps: int) -> float:
    """The smallest power of ten (>= 1e-3) by which ``base`` can move ``laps`` times and
    still give a different float32 each time (models and cache keys see float32)."""
    step = 1e-3
    while np.spacing(np.float32(abs(base) + step * laps)) * 4 > step:
        step *= 10
    return step


def _fresh_lua(body: Fresh, start: int) -> str:
    records = body.records()
    numeric = [k for k, v in records[0].items() if isinstance(v, int | float)]
    numeric = [k for k in numeric if not isinstance(records[0][k], bool)][:2]
    if len(numeric) < 2:
        raise ValueError(f"fresh rows need two numeric features to vary; the row has {numeric}")
    marks = {name: MARK.format(i) for i, name in enumerate(numeric)}
    if isinstance(body.rows, dict):
        payload: dict[str, Any] = {"instances": [{**body.rows, **marks}]}
    else:
        payload = {"columns": {k: [r[k] for r in records] for k in records[0]}}
        payload["columns"].update(marks)
    pieces = re.split(r'"(@@trainsmart-bench-value-[01]@@)"', json.dumps(payload))
    parts = [
        f"fill(v{1 if piece == MARK.format(0) else 2})" if i % 2 else _lua_string(piece)
        for i, piece in enumerate(pieces)
    ]
    base = [float(records[0][k]) for k in numeric]
    steps = [_step(base[0], SPAN), _step(base[1], 100 * BLOCK // SPAN)]
    return f"""
local ROWS = {len(records)}
local COLUMNS = {"true" if isinstance(body.rows, list) else "false"}
local counter = 0
local function fill(v)
  if not COLUMNS then return v end
  return "[" .. string.rep(v .. ",", ROWS - 1) .. v .. "]"
end
request = function()
  local c = {start} + (thread_index or 0) * {BLOCK} + counter
  counter = counter + 1
  local v1 = string.format("%.12g", {base[0]!r} + (c % {SPAN}) * {steps[0]!r})
  local v2 = string.format("%.12g", {base[1]!r} + math.floor(c / {SPAN}) * {steps[1]!r})
  return wrk.format(nil, nil, nil, {" .. ".join(parts)})
end
"""


DONE = """
local next_index = 0
setup = function(thread)
  thread:set("thread_index", next_index)
  next_index = next_index + 1
end
done = function(summary, latency, requests)
  local values, counts = {}, {}
  for i = 1, #latency do
    local v, n = latency(i)
    values[i] = string.format("%d", v)
    counts[i] = string.format("%d", n)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"status":%d,"socket":%d,', summary.requests,
    summary.duration, e.status, e.connect + e.read + e.write + e.timeout))
  io.write('"values":[', table.concat(values, ","), '],"counts":[',
    table.concat(counts, ","), ']}\\n')
end
"""


def lua_script(body: Body, start: int) -> str:
    """The wrk script of one load; ``start`` is the first request counter (Fresh only)."""
    head = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    if isinstance(body, Fixed):
        head += f"wrk.body = {_lua_string(json.dumps(body.body))}\n"
        return head + DONE
    return head + _fresh_lua(body, start) + DONE


def parse_output(stdout: str) -> WrkResult:
    """The figures of the script's ``WRK_JSON`` line in wrk's output."""
    line = next((x for x in stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no WRK_JSON line:\n{stdout[-2000:]}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        data["requests"],
        data["status"],
        data["socket"],
        data["duration_us"] / 1e6,
        tuple(zip(data["values"], data["counts"], strict=True)),
    )


def run_wrk(
    url: str,
    body: Body,
    counters: Counters | None = None,
    *,
    seconds: float,
    connections: int = 16,
    threads: int = 1,
    warmup: bool = False,
) -> WrkResult:
    """``wrk -t THREADS -c CONNECTIONS -d SECONDS --latency`` POSTing ``body`` to ``url``
    (loopback only); ``warmup`` takes its counters from the warm-up range of ``counters``
    (one shared by every load of a run keeps their rows apart)."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"{url}: the bench drives loopback servers only")
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="trainsmart-wrk-") as tmp:
        script = Path(tmp) / "load.lua"
        if isinstance(body, Fresh) and body.offset:
            start = body.offset * threads * BLOCK
        else:
            start = (counters or Counters()).take(threads, warmup=warmup)
        script.write_text(lua_script(body, start))
        command = [
            binary, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--timeout", "10s", "--latency", "-s", str(script), url,
        ]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    result = parse_output(done.stdout)
    if result.requests + connections > threads * BLOCK:
        raise RuntimeError(f"{result.requests} requests overran the counter range {BLOCK}")
    return result
