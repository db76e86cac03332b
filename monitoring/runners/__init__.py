"""Where retrain jobs run: ``base.py`` (the ``JobRunner`` seam), ``process.py`` (a child
process, the default), ``kubernetes/`` (a Kubernetes Job each) and ``factory.py``
(``make_runner``: the one ``monitoring.job_runner`` names).

Kept free of imports: ``monitoring/settings.py`` imports ``kubernetes/settings.py``.
"""
