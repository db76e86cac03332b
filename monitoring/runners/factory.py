"""The runner ``monitoring.job_runner`` names: ``subprocess`` or ``kubernetes``.

Example::

    runner = make_runner(scope, JobStore(db))
"""

from __future__ import annotations

from monitoring.runners.base import JobRunner
from monitoring.runners.kubernetes.runner import KubernetesJobRunner
from monitoring.runners.process import SubprocessJobRunner
from monitoring.settings import MonitoringScope
from trainsmart.state.jobs import JobStore


def make_runner(scope: MonitoringScope, jobs: JobStore) -> JobRunner:
    """A :class:`KubernetesJobRunner` for ``kubernetes``, else a :class:`SubprocessJobRunner`."""
    if scope.monitoring.job_runner == "kubernetes":
        return KubernetesJobRunner(scope, jobs)
    return SubprocessJobRunner(scope, jobs)
