"""Trigger: when drift, an alert or the schedule turns into a retrain job.

``policy.py`` (the rules), ``triggers.py`` (the one door every automatic trigger goes
through), ``webhook.py`` (Alertmanager) and ``supervisor.py`` (starts, recovers, judges and
schedules jobs each check).
"""
