"""The ``trainsmart`` command line."""
