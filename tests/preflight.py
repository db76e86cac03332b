"""Which real servers the tests need are missing here, before a test runs.

``make test`` runs ``python tests/preflight.py`` first: it prints, in a few lines, which
suites will be skipped (or, under ``TRAINSMART_REQUIRE_SERVICES=1``, fail) and the one
command that installs what they need. Nothing missing: it prints nothing.

``make install`` runs ``python tests/preflight.py --install``: as root with apt-get, it
installs the missing Debian packages quietly (each program is looked for first, so a
second run does nothing); elsewhere it prints the command in one line. It never fails
the install: the tests say the rest (tests/services.py).

Example::

    $ python tests/preflight.py
    make test: not installed here, so these suites will be skipped:
      chromium: the Evidently report rendered in a browser (tests/monitoring/drift)
    install them with: sudo apt-get install -y chromium
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

REQUIRE_SERVICES_ENV = "TRAINSMART_REQUIRE_SERVICES"  # the same as tests/services.py


@dataclass(frozen=True)
class Need:
    package: str
    """The Debian package."""
    programs: tuple[str, ...]
    """What the tests run from it (all must be found)."""
    suites: str
    """The tests that need it."""


NEEDS = (
    Need(
        "redis-server",
        ("redis-server",),
        "the shared Redis cache, its faults, replicas and the load test "
        "(tests/serving/cache, tests/e2e/test_replicas.py, tests/reliability/test_load.py)",
    ),
    Need(
        "postgresql",
        ("initdb", "postgres"),
        "the state database on PostgreSQL, the settle rule, replicas and make test-postgres "
        "(tests/trainsmart/state, tests/monitoring/test_settle.py)",
    ),
    Need(
        "prometheus",
        ("prometheus", "promtool"),
        "metric names under promtool, the dashboard's queries and alert rules "
        "(tests/grafana, tests/serving/test_promtool.py, tests/monitoring/test_metrics.py)",
    ),
    Need(
        "prometheus-alertmanager",
        ("prometheus-alertmanager", "amtool"),
        "alert routing to the monitor's webhook (tests/grafana)",
    ),
    Need(
        "chromium",
        ("chromium",),
        "the Evidently report rendered in a browser (tests/monitoring/drift/test_window.py)",
    ),
    Need("wrk", ("wrk",), "the HTTP benchmark's load generator (tests/bench)"),
)


def found(program: str) -> bool:
    """On PATH, or (PostgreSQL's programs) in Debian's versioned folder off PATH."""
    if shutil.which(program):
        return True
    return bool(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"))


def missing() -> list[Need]:
    return [need for need in NEEDS if not all(found(p) for p in need.programs)]


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install_command(needs: list[Need]) -> str:
    packages = " ".join(need.package for need in needs)
    return f"{'' if can_install() else 'sudo '}apt-get install -y {packages}"


def report(needs: list[Need]) -> str:
    """What ``make test`` prints first (empty when nothing is missing)."""
    if not needs:
        return ""
    required = os.environ.get(REQUIRE_SERVICES_ENV) == "1"
    what = (
        f"these suites will fail ({REQUIRE_SERVICES_ENV}=1)"
        if required
        else "these suites will be skipped"
    )
    lines = [f"make test: not installed here, so {what}:"]
    lines += [f"  {need.package}: {need.suites}" for need in needs]
    lines.append(f"install them with: {install_command(needs)} (or make install, as root)")
    return "\n".join(lines)


def _quietly(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, check=False
    )


def install(needs: list[Need]) -> str:
    """Install ``needs`` with apt-get as root; otherwise, or if that fails, the one line to
    run. Returns what to print (empty when all went well or nothing was missing)."""
    if not needs:
        return ""
    if not can_install():
        return f"servers the tests start are not installed here: {install_command(needs)}"
    packages = [need.package for need in needs]
    update = _quietly(["apt-get", "update", "-qq"])
    done = _quietly(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages])
    if update.returncode or done.returncode or missing():
        tail = (done.stderr or update.stderr or "").strip().splitlines()[-1:]
        return (
            f"could not install {' '.join(packages)} ({' '.join(tail) or 'see apt-get'}); "
            "their tests will be skipped: apt-get install -y " + " ".join(packages)
        )
    return f"installed the servers the tests start: {' '.join(packages)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="install what is missing")
    args = parser.parse_args(argv)
    needs = missing()
    text = install(needs) if args.install else report(needs)
    if text:
        print(text, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
