"""Detect: one window of logged inputs against its version's reference sample.

``detector.py`` (data drift, Evidently's per-column tests), ``options.py`` (method and
threshold overrides), ``frames.py`` (typed frames), ``quality.py`` (missing, out of range,
unseen), ``prediction.py`` (prediction drift), ``evidently_report.py`` (the full report),
``results.py`` (what a check found), ``importance.py`` (the importance-weighted drift
share, and statistics oriented alike for p-values and distances), ``gauges.py`` (the
per-feature and weighted gauges) and ``window.py``, which runs them all on a window.
"""
