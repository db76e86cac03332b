"""Hyperparameter search with Optuna (``trainsmart tune``): ``space`` maps the configured
search space onto settings, ``study`` runs and resumes the stored study."""

from training.tuning.space import apply_params, check_space, training_with
from training.tuning.study import TuneResult, apply_best, load_result, study_path, tune

__all__ = [
    "TuneResult",
    "apply_best",
    "apply_params",
    "check_space",
    "load_result",
    "study_path",
    "training_with",
    "tune",
]
