"""Settings of the drift monitor and retrain policy (a section of ``trainsmart.settings``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

PosInt = Annotated[int, Field(gt=0)]


class MonitoringSettings(BaseModel):
    """Windows, drift thresholds and the retrain trigger policy."""

    host: str = "127.0.0.1"
    """Interface of the monitor's Prometheus endpoint."""
    port: Annotated[int, Field(ge=0, le=65535)] = 9108
    """Port of the monitor's Prometheus endpoint (/metrics)."""
    interval_s: Annotated[float, Field(gt=0.0)] = 10.0
    """Seconds between checks for a new window."""
    window_rows: PosInt = 300
    """Rows per (tumbling) window of logged inputs of the production version."""
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    """Share of drifted features at which Evidently flags dataset drift."""
    consecutive_windows: PosInt = 2
    """Dataset drift in this many consecutive windows triggers a retrain."""
    cooldown_s: Annotated[float, Field(ge=0.0)] = 600.0
    """No new retrain within this many seconds of the last one's start."""
    retrain_enabled: bool = True
    """Trigger retrain jobs; when off, the monitor only measures."""
    job_timeout_s: Annotated[float, Field(gt=0.0)] = 1800.0
    """A retrain job running longer is killed and marked failed."""
