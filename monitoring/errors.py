"""Errors of the drift monitor (part of trainsmart's one error tree).

TrainsmartError (500)
 +-- MonitoringError (500)   a window or reference the monitor cannot work with
"""

from __future__ import annotations

from trainsmart.errors import TrainsmartError


class MonitoringError(TrainsmartError):
    """The monitor cannot compare a window with the reference as asked."""
