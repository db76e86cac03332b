"""trainsmart's entry points: the top floor.

The ``trainsmart`` command (``cli/``), the demo (``demo/``), the process launcher
(``launch.py``), the Bento builder (``bento.py``), the monitor's process wiring
(``monitor.py``) and the composed settings (``settings.py``). This is the only code that
wires several stages together; the stages (``training``, ``serving``, ``monitoring``) and
the foundation (``trainsmart``) never import it.
"""
