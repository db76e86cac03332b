"""Performance estimated without labels: CBPE on each window's calibrated probabilities
(``cbpe.py``), per version (``window.py``), exported as gauges (``metrics.py``)."""
