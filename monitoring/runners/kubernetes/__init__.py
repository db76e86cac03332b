"""Retrain jobs as Kubernetes Jobs: ``settings.py`` (``monitoring.kubernetes``),
``render.py`` (the ``batch/v1`` Job), ``api.py`` (the REST calls) and ``runner.py`` (the
``JobRunner``).

Kept free of imports: ``monitoring/settings.py`` imports ``settings.py``.
"""
