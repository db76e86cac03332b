"""Settings of the drift monitor and retrain policy: the ``monitoring:`` section of
``trainsmart.yaml`` and :class:`MonitoringScope`, what every monitoring module receives
(the shared keys, this section and the retrain limits; ``apps/settings.py`` builds it)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from monitoring.runners.kubernetes.settings import KubernetesJobSettings
from trainsmart.settings import CoreSettings, Section

PosInt = Annotated[int, Field(gt=0)]


class MonitoringSettings(Section):
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
    by type and reference size (see monitoring/drift/options.py)."""
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
    """Dataset drift in this many consecutive windows triggers a retrain (with trigger:
    drift; the other triggers count estimated_windows)."""
    cooldown_s: Annotated[float, Field(ge=0.0)] = 600.0
    """No new retrain within this many seconds of the last one's start."""
    retrain_enabled: bool = True
    """Trigger retrain jobs; when off, the monitor only measures."""
    job_timeout_s: Annotated[float, Field(gt=0.0)] = 1800.0
    """A retrain job running longer is killed and marked failed."""
    job_runner: Literal["subprocess", "kubernetes"] = "subprocess"
    """Where retrain jobs run: ``subprocess``, a child process of the monitor; or
    ``kubernetes``, one Kubernetes Job each (settings in ``kubernetes``; needs a shared
    ``database_url``, where the job reports its outcome)."""
    kubernetes: KubernetesJobSettings = KubernetesJobSettings()
    """Image, resources, secrets and volumes of the retrain Jobs, and how to reach the
    Kubernetes API (monitoring/runners/kubernetes/settings.py); used with job_runner:
    kubernetes."""
    settle_s: Annotated[float, Field(ge=0.0)] = 2.0
    """On PostgreSQL, windows take only rows logged at least this long ago: replicas commit
    in parallel, so a row can commit just after one with a higher id, and a window that
    had moved past its id would never see it. (SQLite commits one writer at a time: not
    needed there.) A row whose commit takes longer than this is logged but in no window."""
    leader_lease_s: Annotated[float, Field(gt=0.0)] = 60.0
    """Several monitors of one model on one state database: the one holding the lease acts,
    the others stand by; a holder that stops renewing it (each check) for this long is
    replaced. Keep it above interval_s plus the longest check (a drifted window's report)."""
    niceness: Annotated[int, Field(ge=0, le=19)] = 10
    """CPU priority (Unix nice) of the monitor and of the retrain jobs it starts: on a
    machine shared with the service, drift checks and training yield the CPU to
    predictions. 0: the same priority as the service."""

    # -- retraining that can only make things better (issue E) --------------------------
    min_labelled_rows: Annotated[int, Field(ge=0)] | None = None
    """A retrain job starts only when the input log holds at least this many labelled rows
    (rows with a /feedback label); until then the trigger records "waiting for labels".
    None: training.retrain.min_labelled_rows, below which a job would be rejected anyway;
    0: no such rule. Applies to drift, webhook and scheduled triggers, not to
    `trainsmart retrain`."""
    webhook_token: SecretStr | None = None
    """Bearer token Alertmanager must send to POST /webhook/alertmanager. Unset (or empty),
    the webhook is disabled and answers 403. Set it with
    TRAINSMART_MONITORING__WEBHOOK_TOKEN rather than in a committed file."""
    retrain_every_s: Annotated[float, Field(gt=0.0)] | None = None
    """Also retrain on a schedule: once this many seconds passed since the last job (or
    since the monitor started), through the same cooldown, single flight and label rule.
    None: no schedule."""
    rollback_enabled: bool = True
    """Roll a promotion back automatically when the new champion's live labelled metric is
    worse than the previous champion's (see rollback_window_rows, rollback_tolerance)."""
    rollback_window_rows: PosInt = 200
    """Labelled live rows the new champion needs before it is judged, and the window of the
    previous champion's last labelled rows (before the promotion) it is compared with."""
    rollback_tolerance: Annotated[float, Field(ge=0.0)] = 0.02
    """Roll back when the new champion's live metric is worse than the previous one's by
    more than this, in the live metric's units: accuracy (0.02 = 2 points) or, for
    regression, mean absolute error in the target's units."""

    # -- retrain on estimated harm, not on drift alone (issue K) --------------------------
    trigger: Literal["drift", "estimated_harm", "both"] = "drift"
    """What makes a window count towards a retrain: 'drift', dataset drift
    (consecutive_windows in a row); 'estimated_harm', the window's metric estimated
    without labels (CBPE on the calibrated probabilities) below the version's test metric
    minus estimated_drop (estimated_windows in a row); 'both', drift AND estimated harm in
    the same window (estimated_windows in a row): drift that hurts. Versions without
    calibration.json fall back to the drift rule."""
    estimated_metric: Literal["accuracy", "roc_auc"] = "accuracy"
    """The estimated metric the harm rule compares (both are estimated and exported)."""
    estimated_drop: Annotated[float, Field(ge=0.0)] = 0.02
    """Estimated harm: the estimate is below the version's test metric
    (metrics.json "serving") minus this (0.02 = 2 points)."""
    estimated_windows: PosInt = 2
    """Consecutive windows of estimated harm (with 'both': also drifted) that trigger."""

    @model_validator(mode="after")
    def _lease_outlives_a_check(self) -> MonitoringSettings:
        if self.leader_lease_s < 2 * self.interval_s:
            raise ValueError(
                f"leader_lease_s ({self.leader_lease_s:g}) must be at least twice interval_s "
                f"({self.interval_s:g}), or the lease of a monitor lapses between its checks "
                "and another one takes over; raise leader_lease_s"
            )
        return self

    @field_validator("webhook_token")
    @classmethod
    def _empty_token_is_unset(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            return None
        return token


class RetrainLimits(Section):
    """The retrain limits the monitor's gate shares with training (``training.retrain``);
    the entry point copies them in."""

    min_labelled_rows: PosInt = 60
    """``training.retrain.min_labelled_rows``: fewer labelled rows and a job is refused."""
    recent_rows: PosInt = 5000
    """``training.retrain.recent_rows``: the most recent labelled rows a job uses."""
    shadow_rows: PosInt | None = None
    """``training.retrain.shadow_rows``: shadowed rows before a shadow candidate is judged."""


class MonitoringScope(CoreSettings):
    """What the monitor reads: the shared keys, its own section and the retrain limits."""

    monitoring: MonitoringSettings = MonitoringSettings()
    """Drift windows, the retrain policy, job runners."""
    retrain: RetrainLimits = RetrainLimits()
    """Copied from ``training.retrain`` by the entry point."""
