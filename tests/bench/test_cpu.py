"""The CPU clock tells this process tree's CPU time from other processes'."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.cpu import CpuClock

BUSY = "import time\nwhile time.process_time() < {s}: pass"  # {s} seconds of CPU


def test_a_busy_child_is_ours() -> None:
    before = CpuClock.read()
    subprocess.run([sys.executable, "-c", BUSY.format(s=1.0)], check=True)
    after = CpuClock.read()
    assert after.ours - before.ours >= 0.95


def test_a_busy_process_outside_the_tree_is_the_others() -> None:
    # sh starts python in the background and exits: python is re-parented out of our tree
    command = f"{sys.executable} -c '{BUSY.format(s=2.0)}' >/dev/null 2>&1 &"
    subprocess.run(["sh", "-c", command], check=True)
    time.sleep(0.3)  # started
    before = CpuClock.read()
    time.sleep(1.0)
    after = CpuClock.read()
    assert after.ours - before.ours < 0.3  # we only slept
    assert after.others_since(before) * (os.cpu_count() or 1) >= 0.7  # about one core
