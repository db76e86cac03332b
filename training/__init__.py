"""Train, compress, export and register models (the first stages of the loop).

Importing this package is cheap: torch is imported only by the modules that
train (``training.models``, ``training.trainer``, ``training.export``).
"""
