"""``training.retrain``: how a challenger is trained from logged traffic and gated."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from training.settings.fields import Fraction, PosInt
from trainsmart.settings import Section


class RetrainSettings(Section):
    """How a challenger is trained from logged, labelled traffic and gated."""

    holdout_fraction: Fraction = 0.4
    """Share of the recent labelled rows held out to compare champion and challenger."""
    min_labelled_rows: PosInt = 60
    """Fewer labelled logged rows than this: the job is rejected without training."""
    recent_rows: PosInt = 5000
    """At most this many most recent labelled rows are used."""
    recent_weight: Annotated[float, Field(ge=1.0)] = 3.0
    """Each recent labelled training row counts this many times (oversampling)."""
    metric: Literal["auto", "accuracy", "f1", "roc_auc", "mse", "mae", "r2"] = "auto"
    """Metric compared on the holdout; 'auto': accuracy for classification, mse for
    regression (mse and mae are lower-is-better)."""
    margin: Annotated[float, Field(ge=-1.0)] = 0.01
    """Promote only if the challenger beats the champion by at least this much on the
    metric (metric >= champion + margin, or <= champion - margin for mse and mae); a
    negative margin accepts a challenger that is at most that much worse."""
    reference: Literal["recent", "training"] = "recent"
    """Reference sample of the challenger: the recent inputs it was validated on, or its
    training inputs."""
    reference_rows: PosInt | None = None
    """Recent logged inputs in the challenger's reference sample (reference 'recent');
    default: the rows of the windows that triggered the retrain
    (monitoring.window_rows x monitoring.consecutive_windows)."""
    test_tolerance: Annotated[float, Field(ge=0.0)] = 0.02
    """Second gate: on the original test split of the configured dataset the challenger
    may be at most this much worse than the champion, in the metric's units (accuracy:
    0.02 = 2 points; mse and mae: the target's squared or plain units, so set it for your
    target's scale). A challenger that wins the recent holdout by forgetting what the
    champion knew is rejected."""
    shadow_rows: PosInt | None = None
    """Third gate, optional: a challenger that passes both becomes the shadow candidate
    (every production request mirrored to it) instead of production; the monitor promotes
    it after this many shadowed rows unless its labelled shadow rows score worse than the
    champion's by more than monitoring.rollback_tolerance. None: promote at once."""
