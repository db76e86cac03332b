"""The ``training:`` section: framework, network, training loop, parity, and its nested
``retrain``, ``tuning`` and ``compression`` sections."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from training.settings.compression import CompressionSettings
from training.settings.fields import Fraction, PosInt
from training.settings.retrain import RetrainSettings
from training.settings.tracking import TrackingSettings
from training.settings.tuning import TUNABLE_EXTRA, TuningSettings
from trainsmart.settings import Section


class TrainingSettings(Section):
    """The MLP (PyTorch or Keras) and its training loop."""

    framework: Literal["torch", "keras"] = "torch"
    """Which framework trains the MLP: 'torch' (PyTorch) or 'keras' (Keras 3 on the
    TensorFlow backend; needs the 'keras' extra: pip install -e '.[keras]'). Both fold the
    same preprocessing into the exported ONNX graph and give the same contract and bundle;
    every other setting here applies to both."""
    architecture: Literal["auto", "mlp", "cnn"] = "auto"
    """'mlp' for tables; 'cnn' for images (conv, batch norm, ReLU, max-pool per block,
    then dropout and the dense layers of hidden_sizes); 'auto': cnn for image datasets,
    mlp otherwise."""
    conv_channels: list[PosInt] = [32, 64]
    """Output channels of each conv block of the CNN (3x3 kernels, padding 1; a 2x2
    max-pool after each block while the image is at least 2 pixels wide)."""
    hidden_sizes: list[PosInt] = [64, 32]
    """Widths of the hidden layers (of the MLP, or of the CNN's head)."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    """Dropout probability after each hidden layer."""
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3
    """AdamW learning rate."""
    weight_decay: Annotated[float, Field(ge=0.0)] = 1e-4
    """AdamW weight decay."""
    batch_size: PosInt = 128
    """Rows per training mini-batch."""
    max_epochs: PosInt = 60
    """Upper bound on epochs; early stopping usually ends sooner."""
    patience: PosInt = 6
    """Epochs without validation-loss improvement before stopping (best epoch restored)."""
    seed: int = 42
    """Seed of weights, shuffling and dropout; with it a rerun gives the same metrics."""
    class_weights: bool = True
    """Weight the loss by inverse class frequency (imbalanced targets)."""
    quantize: bool = True
    """Build the int8 variants (dynamic and static; see compression); false: none."""
    max_metric_drop: Annotated[float, Field(ge=0.0)] = 0.01
    """Older name of compression.max_metric_drop (setting either sets both)."""
    parity_tolerance: Annotated[float, Field(gt=0.0)] = 1e-4
    """Max abs difference of probabilities allowed between the framework's model and ONNX."""
    calibration: Literal["auto", "isotonic", "temperature", "none"] = "auto"
    """Calibration of the served classifier's probabilities, fitted on the validation split
    and stored in the bundle (calibration.json); the monitor's label-free performance
    estimate uses it. 'auto': isotonic, temperature or none, whichever has the lowest
    cross-fitted validation log-loss (training/calibration.py). Regression: unused."""
    lr_schedule: Literal["none", "step", "cosine", "plateau"] = "none"
    """Learning-rate schedule, stepped once per epoch: 'step' multiplies the rate by
    lr_gamma every lr_step_size epochs; 'cosine' anneals it towards 0 over max_epochs;
    'plateau' multiplies it by lr_plateau_factor after lr_plateau_patience epochs without
    validation-loss improvement; 'none' keeps learning_rate throughout."""
    lr_step_size: PosInt = 10
    """Epochs between two reductions of the 'step' schedule."""
    lr_gamma: Fraction = 0.5
    """Factor applied to the learning rate at each 'step' reduction."""
    lr_plateau_patience: Annotated[int, Field(ge=0)] = 2
    """Epochs without validation-loss improvement before 'plateau' lowers the rate (keep it
    below patience, or early stopping ends the fit first)."""
    lr_plateau_factor: Fraction = 0.5
    """Factor applied to the learning rate at each 'plateau' reduction."""
    grad_clip_norm: Annotated[float, Field(gt=0.0)] | None = None
    """Clip the total gradient norm of each batch to this value (None: no clipping)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where PyTorch trains (the fit, fine-tuning after pruning, distillation): 'auto'
    takes CUDA when torch sees a GPU, else the CPU; 'cuda' fails without one. The CPU
    path is unchanged (same weights for the same seed); on CUDA the seed fixes the
    initialisation and the shuffling, but CUDA kernels may differ in the last bits.
    Models are moved back to the CPU before export. Keras places its ops itself."""
    oversample_minority: bool = False
    """Randomly repeat rows of the smaller classes (seeded) until every class has as many
    training rows as the largest; only the training split is resampled, validation and test
    rows are left as they are."""
    importance_repeats: Annotated[int, Field(ge=0)] = 5
    """Permutation importance of every registered version (metrics.json "importance", the
    report, `trainsmart models show`; training/importance.py): times each feature is
    shuffled on the test split, seeded by data.seed; the std over them is the spread.
    0: not computed."""
    importance_rows: PosInt = 2000
    """Most test rows the permutation importance scores (drawn with data.seed)."""
    retrain: RetrainSettings = RetrainSettings()
    tuning: TuningSettings = Field(default_factory=TuningSettings)
    """Hyperparameter search (`trainsmart tune`); see TuningSettings."""
    compression: CompressionSettings = Field(default_factory=CompressionSettings)
    """Compressed variants and the choice of the served one; see CompressionSettings."""
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    """Experiment tracking in MLflow and TensorBoard (off by default); see TrackingSettings."""

    @model_validator(mode="after")
    def _tunable_names(self) -> TrainingSettings:
        allowed = sorted(
            {*type(self).model_fields, *TUNABLE_EXTRA}
            - {"retrain", "tuning", "compression", "tracking"}
        )
        unknown = sorted(set(self.tuning.search_space) - set(allowed))
        if unknown:
            raise ValueError(
                f"training.tuning.search_space names {unknown}, which are not training "
                f"settings; tunable names: {', '.join(allowed)}"
            )
        return self

    @model_validator(mode="after")
    def _metric_drop_alias(self) -> TrainingSettings:
        old = "max_metric_drop" in self.model_fields_set
        new = "max_metric_drop" in self.compression.model_fields_set
        if old and new and self.max_metric_drop != self.compression.max_metric_drop:
            raise ValueError(
                f"training.max_metric_drop ({self.max_metric_drop}) and "
                f"training.compression.max_metric_drop ({self.compression.max_metric_drop}) "
                "differ; keep only training.compression.max_metric_drop"
            )
        if old and not new:
            self.compression = self.compression.model_copy(
                update={"max_metric_drop": self.max_metric_drop}
            )
        elif not old:
            self.max_metric_drop = self.compression.max_metric_drop
        return self
