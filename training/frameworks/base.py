"""The seam between the training loop and the framework that trains the model.

Everything after training (export, parity check, metrics, compression, staging,
registration, serving) goes through a :class:`Framework` and never asks which one it
holds. ``training.framework`` names it once; :func:`training.frameworks.get_framework`
returns it. Both frameworks build the same networks (MLP or CNN, the preprocessing in the
graph), train them with the same loop semantics and return a :class:`FitResult`.

Neither torch nor TensorFlow is imported here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import numpy as np

from trainsmart.errors import TrainingError

if TYPE_CHECKING:
    from training.preprocess import Preprocessor
    from training.settings import TrainingSettings
    from trainsmart.registry.contract import InputContract

FrameworkName = Literal["torch", "keras"]


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    val_loss: float
    val_score: float
    """Validation accuracy (classification) or R2 (regression)."""
    lr: float = 0.0
    """Learning rate the epoch was trained with (before the schedule stepped)."""


ModelT = TypeVar("ModelT")


@dataclass
class FitResult(Generic[ModelT]):
    """The trained model (best epoch restored) and how training went.

    ``model`` is a torch :class:`~training.frameworks.pytorch.models.Network` or a Keras
    model, as the framework that trained it says.
    """

    model: ModelT
    best_epoch: int
    best_val_loss: float
    best_val_score: float
    """Validation accuracy (classification) or R2 (regression) at the best epoch."""
    history: list[EpochLog] = field(default_factory=list)
    score_name: str = "accuracy"
    """What ``val_score`` measures: 'accuracy' or 'r2'."""
    train_rows: int = 0
    """Rows the model was trained on (more than given when oversample_minority is on)."""


class Framework(ABC):
    """One framework's way to build, train, run and export the model ``training`` describes.

    Example::

        framework = get_framework(settings.training.framework)     # "torch" or "keras"
        result = framework.fit(x_train, y_train, x_val, y_val, pre, contract, settings.training)
        proba = framework.predict(result.model, x_test)             # numpy [n, 2]
        framework.export(result.model, contract, Path("fp32.onnx"))
    """

    name: ClassVar[FrameworkName]
    """The value of ``training.framework`` that selects it."""
    label: ClassVar[str]
    """How messages name it: 'PyTorch', 'Keras'."""

    @abstractmethod
    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        preprocessor: Preprocessor,
        contract: InputContract,
        settings: TrainingSettings,
        *,
        progress: bool = True,
        on_epoch: Callable[[EpochLog], None] | None = None,
    ) -> FitResult[Any]:
        """Build the network ``settings`` describe for ``contract`` and train it on encoded
        rows (labels: class indices, or target values for regression)."""

    @abstractmethod
    def predict(self, model: Any, matrix: np.ndarray) -> np.ndarray:
        """Outputs of a trained model in inference mode: probabilities ``[n, n_classes]``,
        or values ``[n, 1]`` for regression."""

    @abstractmethod
    def export(self, model: Any, contract: InputContract, path: Path) -> Path:
        """Write the model as ONNX (``input`` -> the contract's output, dynamic batch)."""


def use_cnn(contract: InputContract, settings: TrainingSettings) -> bool:
    """Whether ``settings.architecture`` asks for the CNN ('auto': for images)."""
    if settings.architecture == "cnn" and contract.image_shape is None:
        raise TrainingError(
            "training.architecture is 'cnn' but the data are not images; use an image "
            "dataset (data.dataset digits or images) or architecture mlp"
        )
    return settings.architecture == "cnn" or (
        settings.architecture == "auto" and contract.image_shape is not None
    )
