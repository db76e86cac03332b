"""How much of the machine's CPU other processes took while a load ran.

The bench shares its cores with whatever else runs (other test suites, builds); a
figure measured while something else took half a core is not comparable. A
:class:`CpuClock` reading is the machine's busy time (``/proc/stat``) and the CPU time
of this process tree: this process, its children (servers, wrk) and theirs (BentoML
workers), including children already reaped. Between two readings, the busy time that
is not ours is the others'.

Example::

    before = CpuClock.read()
    run_wrk(...)
    share = CpuClock.read().others_since(before)   # 0.0 .. 1.0 of all cores
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _busy_s() -> float:
    """Seconds all cores spent busy since boot (not idle, not waiting on I/O)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS


def _tree_s(root: int) -> float:
    """CPU seconds of ``root`` and every live descendant, with their reaped children."""
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        pid = int(proc.name)
        parents[pid] = int(fields[1])
        spent[pid] = sum(int(x) for x in fields[11:15]) / TICKS  # utime stime cutime cstime
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        frontier = [pid for pid in children if pid not in tree]
        tree.update(frontier)
    return sum(spent.get(pid, 0.0) for pid in tree)


@dataclass(frozen=True)
class CpuClock:
    """One reading: wall clock, the machine's busy seconds, this process tree's seconds."""

    wall: float
    busy: float
    ours: float

    @classmethod
    def read(cls) -> CpuClock:
        return cls(time.monotonic(), _busy_s(), _tree_s(os.getpid()))

    def others_since(self, before: CpuClock) -> float:
        """Share of all cores (0..1) that processes outside this tree used since ``before``."""
        capacity = (self.wall - before.wall) * (os.cpu_count() or 1)
        others = (self.busy - before.busy) - (self.ours - before.ours)
        return min(1.0, max(0.0, others / capacity)) if capacity > 0 else 0.0
