"""Experiment tracking: every train, tuning session and retrain job as a run in MLflow
and/or TensorBoard (``training.tracking``; both off by default, and then nothing here
imports either).

::

    base.py                 Tracker (an open run), NoTracker, Composite, Guarded + Alarm
    mlflow_tracker.py       MlflowTracker: MlflowClient, short HTTP timeouts (lazy: mlflow)
    tensorboard_tracker.py  TensorBoardTracker: event files, scalars per epoch, ONNX graph
    factory.py              open_tracker: the trackers the settings configure, guarded
    flatten.py              settings -> params, metrics.json -> metrics
    runs.py                 TrainingRun, training_run   (training.pipeline)
    tuning.py               TuningRun, tuning_run       (training.tuning.study)
    retraining.py           RetrainRun, retrain_run     (training.retrain)

What a run of `trainsmart train` holds: the effective settings as parameters; tags
naming the model, kind, framework, trainsmart version, data fingerprint, serving variant
and, once registered, ``trainsmart.version`` ('v3'); ``train_loss``, ``val_loss``,
``val_score`` and ``lr`` per epoch; every number of metrics.json (``serving.accuracy``,
``variants.<variant>.metrics.<metric>``, ...); model.onnx, metrics.json, lineage.json,
contract.json and report/ as artifacts. The version's lineage records the run
(``Lineage.tracking``: mlflow_run_id, mlflow_experiment_id, mlflow_uri, tensorboard_run).

No tracking failure fails training: every tracker call is caught (:class:`Guarded`); the
first failure of a backend logs one warning naming where it went and what to do, and
switches that backend off for the rest of the run.
"""

from training.tracking.base import Composite, Guarded, NoTracker, RunStatus, Tracker
from training.tracking.factory import open_tracker
from training.tracking.retraining import RetrainRun, retrain_run
from training.tracking.runs import VERSION_TAG, TrainingRun, training_run
from training.tracking.tuning import TuningRun, tuning_run

__all__ = [
    "VERSION_TAG",
    "Composite",
    "Guarded",
    "NoTracker",
    "RetrainRun",
    "RunStatus",
    "Tracker",
    "TrainingRun",
    "TuningRun",
    "open_tracker",
    "retrain_run",
    "training_run",
    "tuning_run",
]
