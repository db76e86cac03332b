"""Fixtures of the grafana/ tests: the Prometheus tools, skipped (or failed under
`make test-all`) when their Debian packages are missing."""

from __future__ import annotations

import pytest

from tests.services import require_binary


@pytest.fixture
def promtool() -> str:
    return require_binary("promtool", apt_package="prometheus")


@pytest.fixture
def amtool() -> str:
    return require_binary("amtool", apt_package="prometheus-alertmanager")
