"""The skip helpers (tests/services.py) and the preflight that ``make test`` prints first
(tests/preflight.py): a missing server or package skips a test, naming the command that
installs it, and fails it under TRAINSMART_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import preflight
from tests.services import REQUIRE_SERVICES_ENV

ROOT = Path(__file__).resolve().parents[1]
NEEDS_MISSING_THINGS = """
from tests.services import binary_or_none, require_binary, require_module

def test_binary():
    require_binary("trainsmart-no-such-server", apt_package="no-such-package")

def test_module():
    require_module("trainsmart_no_such_module", pip="pip install no-such-module")

def test_optional_check():
    assert binary_or_none("trainsmart-no-such-server", apt_package="no-such-package") is None
"""


MODULE_NEEDS_A_PACKAGE = """
from tests.services import require_module

client = require_module("trainsmart_no_such_client", pip="pip install -e '.[dev]'")

def test_uses_it():
    assert client
"""


def run_pytest(
    tmp_path: Path, required: bool, only: str | None = None
) -> subprocess.CompletedProcess[str]:
    """pytest on the two files above (or ``only`` one), with or without the variable."""
    (tmp_path / "test_missing.py").write_text(NEEDS_MISSING_THINGS)
    (tmp_path / "test_module_level.py").write_text(MODULE_NEEDS_A_PACKAGE)
    target = tmp_path if only is None else tmp_path / only
    env = {k: v for k, v in os.environ.items() if k != REQUIRE_SERVICES_ENV}
    if required:
        env[REQUIRE_SERVICES_ENV] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:randomly"]
    command += ["-p", "no:cacheprovider", f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml")]
    return subprocess.run(
        [*command, str(target)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_without_the_variable_a_missing_server_or_package_is_a_skip(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, required=False)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 3 skipped" in done.stdout  # the module-level one skips its module
    assert (
        "trainsmart-no-such-server not installed: apt-get install -y no-such-package" in done.stdout
    )
    assert (
        "the Python package trainsmart_no_such_module not installed: pip install no-such-module"
        in done.stdout
    )


def test_with_the_variable_each_one_fails_naming_what_and_the_command(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, required=True, only="test_missing.py")
    assert done.returncode == 1, done.stdout
    assert "3 failed" in done.stdout
    required = f"{REQUIRE_SERVICES_ENV}=1 (make test-all, .ci/run) requires it"
    assert (
        f"trainsmart-no-such-server not installed, and {required}: "
        "apt-get install -y no-such-package" in done.stdout
    )
    assert f"trainsmart_no_such_module not installed, and {required}: pip install" in done.stdout
    # a module that needs the package at import: its collection fails, so the run stops
    done = run_pytest(tmp_path, required=True, only="test_module_level.py")
    assert done.returncode == 2, done.stdout
    assert f"trainsmart_no_such_client not installed, and {required}" in done.stdout


def test_the_preflight_names_each_missing_suite_and_one_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert preflight.report([]) == ""
    needs = [n for n in preflight.NEEDS if n.package in ("chromium", "wrk")]
    monkeypatch.delenv(REQUIRE_SERVICES_ENV, raising=False)
    text = preflight.report(needs)
    assert text.splitlines()[0] == "make test: not installed here, so these suites will be skipped:"
    assert "  chromium: the Evidently report rendered in a browser" in text
    assert "apt-get install -y chromium wrk" in text.splitlines()[-1]
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    assert f"these suites will fail ({REQUIRE_SERVICES_ENV}=1)" in preflight.report(needs)


def test_the_preflight_looks_for_programs_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrk = tmp_path / "wrk"
    wrk.write_text("#!/bin/sh\n")
    wrk.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = [n.package for n in preflight.missing()]
    assert "wrk" not in missing and {"redis-server", "chromium"} <= set(missing)
    assert preflight.install([]) == ""
