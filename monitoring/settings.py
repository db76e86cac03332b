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
    window_seconds: Annotated[float, Field(gt=0.0)] | None = None
    """Also close a window once its first row is this old (whichever comes first, rows
    or time); None: windows close on row count only."""
    min_window_rows: PosInt = 50
    """A window closed by time with fewer rows is not compared (it waits for more)."""
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    """Share of drifted features at which Evidently flags dataset drift."""
    drift_methods: dict[str, str] = {}
    """Evidently stat test per feature name, or per type ('numeric', 'categorical'):
    e.g. {numeric: psi, occupation: jensenshannon}; unset ones use Evidently's choice
    by type and reference size (see monitoring/options.py)."""
    drift_thresholds: dict[str, float] = {}
    """Threshold per feature name or type, for the method used (p-value or distance)."""
    live_window_rows: PosInt = 500
    """Labelled rows per version behind the live metric (trainsmart_live_metric)."""
    reports_keep: PosInt = 20
    """Evidently HTML reports kept on disk per model (the newest; GET /report serves the
    latest)."""
    report_every_window: bool = False
    """Build the full Evidently report for every window, not only drifted ones (costs
    about 1-2 s per window)."""
    consecutive_windows: PosInt = 2
    """Dataset drift in this many consecutive windows triggers a retrain."""
    cooldown_s: Annotated[float, Field(ge=0.0)] = 600.0
    """No new retrain within this many seconds of the last one's start."""
    retrain_enabled: bool = True
    """Trigger retrain jobs; when off, the monitor only measures."""
    job_timeout_s: Annotated[float, Field(gt=0.0)] = 1800.0
    """A retrain job running longer is killed and marked failed."""
