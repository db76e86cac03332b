"""The monitoring stage: detect drift on logged inputs, trigger retraining under a policy,
judge what a retrain promoted (and roll it back).

One folder per step of the loop:

* ``drift/``: detect. Each window of logged rows against the version's reference
  (Evidently's stat tests, data quality, prediction drift, the full report on drift).
* ``records/``: what the monitor keeps of its windows: the drift journal and per-version
  cursors, the Evidently HTML reports.
* ``retrain/``: trigger. The policy (K drifted windows, cooldown, single flight, labels),
  the one door every automatic trigger goes through, the Alertmanager webhook, and the
  supervisor that starts, recovers and schedules jobs each check.
* ``judge/``: after a promotion. The rollback guard and the shadow gate, on the live
  labelled metric.
* ``runners/``: where retrain jobs run: a local child process or a Kubernetes Job.

At the top: ``monitor.py`` (the loop), ``leader.py`` (which monitor acts), ``metrics.py``,
``server.py`` (the HTTP endpoint), ``settings.py`` (this stage's section and scope) and
``errors.py``. The process is wired in ``apps/monitor.py``. Evidently is imported only when
a window is compared.
"""
