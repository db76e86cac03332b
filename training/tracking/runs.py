"""A tracked `trainsmart train`: what training hands the tracker, at which moment.

Example (``training.pipeline.train_and_register``)::

    with training_run(settings, trigger="manual") as run:
        trained = train_model(settings, ..., on_epoch=run.epoch)    # one step per epoch
        staged = stage_model(settings, trained, tmp)
        run.staged(staged)                                          # test metrics, graph
        bundle = register_staged(settings, registry, staged, tracking=run.link())
        run.registered(bundle)                                      # version tag, files

The run ends FINISHED, or FAILED (KILLED on Ctrl-C) when the block raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from training.settings import TrainingScope
from training.tracking.base import NoTracker, Tracker, never_raises
from training.tracking.factory import base_tags, open_tracker
from training.tracking.flatten import flat_params, numeric_leaves
from trainsmart.errors import redact
from trainsmart.registry.bundle import (
    CONTRACT_FILE,
    LINEAGE_FILE,
    METRICS_FILE,
    MODEL_FILE,
    Bundle,
)

if TYPE_CHECKING:
    from training.frameworks.base import EpochLog
    from training.staging import Staged

VERSION_TAG = "trainsmart.version"
"""The registered version a run produced ('v3'): the run's half of the two-way link."""
ARTIFACT_FILES = (MODEL_FILE, METRICS_FILE, LINEAGE_FILE, CONTRACT_FILE)


class TrainingRun:
    """One tracked run of training: per-epoch losses, test metrics, the registered version.

    Every method is safe to call: the tracker it holds never raises.
    """

    def __init__(self, tracker: Tracker, settings: TrainingScope) -> None:
        self.tracker = tracker
        self.settings = settings
        self.active = not isinstance(tracker, NoTracker)
        """False when nothing is configured: the hooks then skip their own work too."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.tracker.end("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.tracker.end("KILLED")
        else:
            self.tracker.set_tags({"trainsmart.error": redact(f"{exc_type.__name__}: {exc}")})
            self.tracker.end("FAILED")

    @never_raises
    def epoch(self, entry: EpochLog) -> None:
        """The trainer's epoch hook (``on_epoch``): losses, validation score and rate."""
        self.tracker.log_metrics(
            {
                "train_loss": entry.train_loss,
                "val_loss": entry.val_loss,
                "val_score": entry.val_score,
                "lr": entry.lr,
            },
            step=entry.epoch,
        )

    @never_raises
    def staged(self, staged: Staged) -> None:
        """What staging measured: every number of metrics.json, the rows per split, the
        data fingerprint, the variant chosen and the exported graph."""
        if not self.active:
            return
        trained = staged.trained
        self.tracker.set_tags(
            {
                "trainsmart.data_fingerprint": trained.dataset.fingerprint(),
                "trainsmart.task": trained.contract.task,
                "trainsmart.serving_variant": staged.serving_variant,
                "trainsmart.score": trained.fit.score_name,
            }
        )
        rows = {f"rows.{k}": float(v) for k, v in trained.rows.items()}
        self.tracker.log_metrics({**numeric_leaves(staged.metrics), **rows})
        fp32 = staged.path / "variants" / "fp32.onnx"
        self.tracker.log_graph(fp32 if fp32.is_file() else staged.model_path)

    @never_raises
    def registered(self, bundle: Bundle) -> None:
        """Link the run to the version it registered, and upload the served model.onnx,
        metrics.json, lineage.json (which names this run), the contract and the report."""
        if not self.active:
            return
        tags = {VERSION_TAG: bundle.version, "trainsmart.bundle": f"{bundle.name}:{bundle.version}"}
        with suppress(Exception):  # an unreadable lineage is for the registry to report
            tags["trainsmart.code_version"] = bundle.lineage().code_version
        self.tracker.set_tags(tags)
        for name in ARTIFACT_FILES:
            self.tracker.log_artifacts(bundle.path / name)
        self.tracker.log_artifacts(bundle.path / "report", "report")

    def link(self) -> dict[str, str]:
        """What the version's lineage records of this run (``Lineage.tracking``)."""
        return self.tracker.link()


def training_run(
    settings: TrainingScope,
    *,
    trigger: str = "manual",
    parent_version: str | None = None,
    tuning: Mapping[str, Any] | None = None,
) -> TrainingRun:
    """Open the run of one `trainsmart train` (or `tune --register`): parameters and tags
    are logged at once, so a run that fails still says what it tried."""
    tags = {**base_tags(settings, "train"), "trainsmart.trigger": trigger}
    if parent_version is not None:
        tags["trainsmart.parent_version"] = parent_version
    if tuning:
        tags["trainsmart.tuning_study"] = str(tuning.get("study", ""))
    return start(settings, "train", tags)


def start(settings: TrainingScope, kind: str, tags: Mapping[str, str]) -> TrainingRun:
    """A :class:`TrainingRun` in a new run named ``kind``, with the settings as params."""
    tracker = open_tracker(settings, kind, tags)
    tracker.log_params(flat_params(settings))
    return TrainingRun(tracker, settings)
