"""The tracker interface: one open run that takes parameters, tags, metrics and files.

::

    Tracker            the interface (an open run; ``child`` opens a nested one)
    ├── NoTracker      nothing configured: every call does nothing
    ├── Composite      several at once (MLflow and TensorBoard)
    ├── Guarded        wraps one backend: a failure warns once and switches it off
    ├── MlflowTracker      (mlflow_tracker.py, imported only when mlflow_uri is set)
    └── TensorBoardTracker (tensorboard_tracker.py, only when tensorboard_dir is set)

Backends may raise; :class:`Guarded` is what training holds, so no tracking failure ever
reaches training.
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, ParamSpec

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]
P = ParamSpec("P")

logger = logging.getLogger("training.tracking")


def never_raises(method: Callable[P, None]) -> Callable[P, None]:
    """A training hook that cannot fail training: an error while gathering what to track
    (the tracker calls themselves are :class:`Guarded`) is logged and dropped."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception as exc:  # tracking never fails training: any error at all
            logger.warning(
                "experiment tracking: %s not recorded (%s: %s); training goes on",
                method.__name__,
                type(exc).__name__,
                exc,
            )

    return wrapper


class Tracker(ABC):
    """An open run of an experiment tracker.

    Example::

        run = open_tracker(scope, "train", {"trainsmart.model": "fair"})
        run.log_params({"training.learning_rate": "0.001"})
        run.log_metrics({"train_loss": 0.52, "val_loss": 0.55}, step=1)
        run.log_artifacts(bundle.path / "report", "report")
        run.end("FINISHED")
    """

    @abstractmethod
    def child(
        self, name: str, tags: Mapping[str, str] | None = None, *, start_time: float | None = None
    ) -> Tracker:
        """Open a run nested under this one (``start_time``: Unix seconds; None: now)."""

    @abstractmethod
    def log_params(self, params: Mapping[str, str]) -> None:
        """Record parameters (each is set once per run)."""

    @abstractmethod
    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set or overwrite tags."""

    @abstractmethod
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metric values, at ``step`` (an epoch) or once (None)."""

    @abstractmethod
    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        """Upload a file or a folder's files under ``artifact_path``."""

    @abstractmethod
    def end(self, status: RunStatus = "FINISHED", *, end_time: float | None = None) -> None:
        """Close the run."""

    def log_graph(self, onnx_path: Path) -> None:  # noqa: B027 (optional: no-op by default)
        """Record the model's graph (only TensorBoard shows one)."""

    def link(self) -> dict[str, str]:
        """What identifies the run, for the lineage of the version it trained."""
        return {}


class NoTracker(Tracker):
    """No tracking configured: every call does nothing."""

    def child(
        self, name: str, tags: Mapping[str, str] | None = None, *, start_time: float | None = None
    ) -> Tracker:
        return self

    def log_params(self, params: Mapping[str, str]) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        pass

    def end(self, status: RunStatus = "FINISHED", *, end_time: float | None = None) -> None:
        pass


class Composite(Tracker):
    """Every call to each of ``trackers`` in turn (each already :class:`Guarded`)."""

    def __init__(self, trackers: list[Tracker]) -> None:
        self.trackers = trackers

    def child(
        self, name: str, tags: Mapping[str, str] | None = None, *, start_time: float | None = None
    ) -> Tracker:
        return Composite([t.child(name, tags, start_time=start_time) for t in self.trackers])

    def log_params(self, params: Mapping[str, str]) -> None:
        for tracker in self.trackers:
            tracker.log_params(params)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for tracker in self.trackers:
            tracker.set_tags(tags)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for tracker in self.trackers:
            tracker.log_metrics(metrics, step)

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        for tracker in self.trackers:
            tracker.log_artifacts(path, artifact_path)

    def log_graph(self, onnx_path: Path) -> None:
        for tracker in self.trackers:
            tracker.log_graph(onnx_path)

    def end(self, status: RunStatus = "FINISHED", *, end_time: float | None = None) -> None:
        for tracker in self.trackers:
            tracker.end(status, end_time=end_time)

    def link(self) -> dict[str, str]:
        return {k: v for tracker in self.trackers for k, v in tracker.link().items()}


class Alarm:
    """The first failure of one backend: logs one warning, then keeps the backend off.

    Shared by a run and its nested runs, so a run tree warns at most once per backend.
    """

    def __init__(self, logger: logging.Logger, describe: Callable[[BaseException], str]) -> None:
        self.logger = logger
        self.describe = describe
        self.tripped = False

    def trip(self, exc: BaseException) -> None:
        if not self.tripped:
            self.tripped = True
            self.logger.warning("%s", self.describe(exc))


class Guarded(Tracker):
    """One backend's run (None: it could not be opened) whose every call is caught: the
    first exception trips ``alarm`` (one warning line), after which every call is skipped,
    so a tracking server that went away costs one timeout, not one per epoch."""

    def __init__(self, inner: Tracker | None, alarm: Alarm) -> None:
        self.inner = inner
        self.alarm = alarm

    @classmethod
    def open(cls, start: Callable[[], Tracker], alarm: Alarm) -> Guarded:
        """Open the run ``start`` opens; a failure warns and gives a run that does nothing."""
        try:
            return cls(start(), alarm)
        except Exception as exc:  # tracking never fails training: any error at all
            alarm.trip(exc)
            return cls(None, alarm)

    def _call(self, call: Callable[[Tracker], None]) -> None:
        if self.inner is None or self.alarm.tripped:
            return
        try:
            call(self.inner)
        except Exception as exc:  # tracking never fails training: any error at all
            self.alarm.trip(exc)

    def child(
        self, name: str, tags: Mapping[str, str] | None = None, *, start_time: float | None = None
    ) -> Tracker:
        inner = self.inner
        if inner is None or self.alarm.tripped:
            return Guarded(None, self.alarm)
        return Guarded.open(lambda: inner.child(name, tags, start_time=start_time), self.alarm)

    def log_params(self, params: Mapping[str, str]) -> None:
        self._call(lambda t: t.log_params(params))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._call(lambda t: t.set_tags(tags))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._call(lambda t: t.log_metrics(metrics, step))

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        self._call(lambda t: t.log_artifacts(path, artifact_path))

    def log_graph(self, onnx_path: Path) -> None:
        self._call(lambda t: t.log_graph(onnx_path))

    def end(self, status: RunStatus = "FINISHED", *, end_time: float | None = None) -> None:
        self._call(lambda t: t.end(status, end_time=end_time))

    def link(self) -> dict[str, str]:
        """The run's link even after a later failure (the run exists, if incomplete)."""
        if self.inner is None:
            return {}
        try:
            return self.inner.link()
        except Exception as exc:  # tracking never fails training: any error at all
            self.alarm.trip(exc)
            return {}
