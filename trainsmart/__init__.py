"""trainsmart: train, register, serve, log, detect drift, retrain, promote.

This shared package holds what every stage agrees on: settings
(:mod:`trainsmart.settings`), the error tree (:mod:`trainsmart.errors`), the
registry contract (:mod:`trainsmart.registry`), the shared state (SQLite or
PostgreSQL, :mod:`trainsmart.state`) and the command line (:mod:`apps.cli`).
It never imports torch, tensorflow or evidently.
"""

__version__ = "0.1.0"
