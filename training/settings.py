"""Settings for data, training and retraining (sections of ``trainsmart.settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PosInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class FeatureConfig(BaseModel):
    """One input column of a user dataset."""

    name: str
    """Column name, as it appears in the file and in requests."""
    kind: Literal["numeric", "categorical"] = "numeric"
    """numeric: scaled float; categorical: one-hot with an unknown bucket (numeric codes)."""


class DataSettings(BaseModel):
    """Where the training rows come from and how they are split."""

    dataset: Literal["fair", "digits", "diabetes", "file", "images"] = "fair"
    """Shipped data: 'fair' (statsmodels' Fair affairs data, 6,366 rows, classify affairs >
    0), 'digits' (sklearn's 1,797 8x8 handwritten digits, 10 classes, an image task),
    'diabetes' (sklearn's 442-row diabetes progression, a regression task). User data:
    'file' (a CSV or Parquet table at `path`), 'images' (an image folder with one
    sub-folder per class, or an .npz file with arrays 'x' and 'y', at `path`)."""
    path: Path | None = None
    """CSV or Parquet file (dataset 'file'); image folder or .npz file (dataset 'images')."""
    features: list[FeatureConfig] = []
    """Feature columns and their kinds (required for dataset 'file')."""
    target: str | None = None
    """Target column (required for dataset 'file'): its distinct values are the classes, or
    the values to predict when task is 'regression'."""
    task: Literal["classification", "regression"] | None = None
    """What the target is: class labels or numbers to predict. None: the dataset's own
    task (regression for 'diabetes', classification for the others)."""
    image_size: list[PosInt] | None = None
    """[height, width] every image of an image folder is resized to (None: the size of the
    first image; every image must then have it)."""
    image_channels: Literal[1, 3] = 1
    """Channels of images read from a folder: 1 (grayscale) or 3 (RGB)."""
    train_fraction: Fraction = 0.70
    """Share of rows in the training split (stratified)."""
    validation_fraction: Fraction = 0.15
    """Share of rows in the validation split (early stopping); the rest is the test split."""
    seed: int = 42
    """Seed of the split and of the reference sample."""
    reference_size: PosInt = 1000
    """Rows of training inputs kept in the bundle as the drift reference sample."""
    allow_missing: bool = True
    """Accept null feature values at serving time; they are imputed inside the model graph."""
    drop_duplicates: bool = False
    """Remove exact duplicate rows (same feature values and target) before the split, so that
    a row cannot sit in both the training and the test split; the count dropped goes into the
    lineage rows as 'duplicates_dropped'. Off by default: the shipped Fair data holds many
    duplicates and its metrics were measured with them."""

    @model_validator(mode="after")
    def _check(self) -> DataSettings:
        if self.train_fraction + self.validation_fraction >= 1.0:
            raise ValueError(
                "data.train_fraction + data.validation_fraction must be below 1 "
                "so that a test split remains"
            )
        if self.dataset == "file" and (self.path is None or not self.features or not self.target):
            raise ValueError("data.dataset 'file' needs data.path, data.features and data.target")
        if self.dataset == "images" and self.path is None:
            raise ValueError("data.dataset 'images' needs data.path (an image folder or .npz)")
        if self.image_size is not None and len(self.image_size) != 2:
            raise ValueError(f"data.image_size is {self.image_size}; give [height, width]")
        return self

    def resolved_task(self) -> Literal["classification", "regression"]:
        """The task: `task` if set, else the dataset's own."""
        if self.task is not None:
            return self.task
        return "regression" if self.dataset == "diabetes" else "classification"


class RetrainSettings(BaseModel):
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


TUNABLE_EXTRA = ("hidden_width",)
"""Search-space names that are not TrainingSettings fields (see :class:`TuningSettings`)."""


class ParamSpec(BaseModel):
    """One searched hyperparameter: a float or int range, or a list of choices."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["float", "int", "categorical"]
    """'float': a real in [low, high]; 'int': an integer in [low, high]; 'categorical': one
    of choices."""
    low: int | float | None = None
    """Lower bound, inclusive (float and int)."""
    high: int | float | None = None
    """Upper bound, inclusive (float and int)."""
    log: bool = False
    """Sample on a log scale (float and int; needs low > 0, no step)."""
    step: int | float | None = None
    """Spacing of the values (float and int); None: any float, every integer."""
    choices: list[Any] = []
    """The values to pick from (categorical): numbers, strings, booleans, or lists of
    numbers (for hidden_sizes)."""

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None:
                raise ValueError("a categorical parameter takes 'choices', not 'low'/'high'")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs 'low' and 'high'")
        if self.choices:
            raise ValueError(f"a {self.type} parameter takes 'low'/'high', not 'choices'")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log: true needs low > 0 and no step")
        if self.type == "int" and not all(
            float(v).is_integer() for v in (self.low, self.high, self.step or 1)
        ):
            raise ValueError("an int parameter needs integer low, high and step")
        return self

    def describe(self) -> str:
        """A short text of the space: 'float 0.0001..0.01 log', 'categorical [64, 128]'."""
        if self.type == "categorical":
            return f"categorical {self.choices}"
        return f"{self.type} {self.low}..{self.high}{' log' if self.log else ''}"


def _default_search_space() -> dict[str, ParamSpec]:
    return {
        "learning_rate": ParamSpec(type="float", low=1e-4, high=1e-2, log=True),
        "hidden_width": ParamSpec(type="int", low=16, high=128),
        "dropout": ParamSpec(type="float", low=0.0, high=0.5),
        "batch_size": ParamSpec(type="categorical", choices=[64, 128, 256]),
    }


class TuningSettings(BaseModel):
    """Hyperparameter search with Optuna (`trainsmart tune`), as ``training.tuning``.

    Each trial trains with the trial's values put over the other training settings, on
    the same split and preprocessing as `trainsmart train`, and is scored on the
    validation split. The study lives in ``<data_dir>/tuning/<study>.db`` (SQLite): running
    the same study again resumes it and adds trials.

    Search-space names are TrainingSettings fields (learning_rate, dropout, batch_size,
    weight_decay, hidden_sizes, ...) plus ``hidden_width``, which sets
    ``hidden_sizes = [w, w // 2]``. Categorical ``hidden_sizes`` takes lists as choices.

    Example (YAML)::

        training:
          tuning:
            n_trials: 30
            search_space:
              learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
              hidden_width: {type: int, low: 16, high: 128}
              batch_size: {type: categorical, choices: [64, 128, 256]}
    """

    sampler: Literal["tpe", "random", "grid"] = "tpe"
    """'tpe': Tree-structured Parzen Estimator; 'random'; 'grid': every combination of the
    choices once (every parameter must be categorical)."""
    pruner: Literal["median", "hyperband", "none"] = "median"
    """Stop weak trials early: 'median' prunes a trial whose epoch value is worse than the
    median of earlier trials at that epoch; 'hyperband'; 'none' trains every trial fully."""
    n_trials: PosInt = 30
    """Trials added by one `trainsmart tune` run (--trials overrides)."""
    timeout_s: Annotated[float, Field(gt=0.0)] | None = None
    """Stop starting new trials after this many seconds (None: no limit)."""
    seed: int = 42
    """Seed of the sampler; a resumed study offsets it by the trials already stored."""
    metric: Literal["val_loss", "val_score", "val_accuracy"] = "val_loss"
    """What a trial is scored on: the best validation loss (minimised) or the validation
    score at the restored best epoch (maximised): accuracy for classification, R2 for
    regression ('val_accuracy' is the same as 'val_score')."""
    startup_trials: Annotated[int, Field(ge=0)] = 5
    """Trials that finish before the median pruner starts pruning."""
    warmup_epochs: Annotated[int, Field(ge=0)] = 2
    """Epochs of each trial that are never pruned (median: n_warmup_steps; hyperband:
    min_resource, at least 1)."""
    search_space: dict[str, ParamSpec] = Field(default_factory=_default_search_space)
    """Parameter name -> ParamSpec; the default searches learning_rate, hidden_width,
    dropout and batch_size."""

    @model_validator(mode="after")
    def _check(self) -> TuningSettings:
        if not self.search_space:
            raise ValueError("training.tuning.search_space is empty; name at least one parameter")
        allowed = sorted(
            {*TrainingSettings.model_fields, *TUNABLE_EXTRA} - {"retrain", "tuning", "compression"}
        )
        unknown = sorted(set(self.search_space) - set(allowed))
        if unknown:
            raise ValueError(
                f"training.tuning.search_space names {unknown}, which are not training "
                f"settings; tunable names: {', '.join(allowed)}"
            )
        if {"hidden_width", "hidden_sizes"} <= set(self.search_space):
            raise ValueError(
                "training.tuning.search_space has both hidden_width and hidden_sizes; "
                "keep one (hidden_width w sets hidden_sizes to [w, w // 2])"
            )
        if self.sampler == "grid":
            ranges = [
                f"{name} ({spec.describe()})"
                for name, spec in self.search_space.items()
                if spec.type != "categorical"
            ]
            if ranges:
                raise ValueError(
                    "training.tuning.sampler 'grid' tries every combination of a finite list "
                    f"of values, but {', '.join(ranges)} "
                    f"{'is a range' if len(ranges) == 1 else 'are ranges'}; give each "
                    "parameter as {type: categorical, choices: [...]} or use sampler "
                    "'tpe' or 'random'"
                )
        return self


CalibrationMethod = Literal["minmax", "entropy", "percentile"]


class CompressionSettings(BaseModel):
    """Compressed variants of the model and the choice of the one to serve, as
    ``training.compression`` (see :mod:`training.compress`).

    Built beside fp32 (the ONNX export after ONNX Runtime's graph optimisations): int8
    dynamic quantization (networks without convolutions only), int8 static quantization
    in QDQ format calibrated on training rows (once per calibration method, per-channel
    weights), structured pruning of hidden units and conv channels followed by fine-tuning
    and the same int8 variants (PyTorch models), and fp16 (a GPU candidate only). Each is
    measured (file size, ONNX Runtime latency at batch 1 and 64, test metrics, agreement
    with fp32); only the chosen one is registered, as model.onnx.

    Example (YAML)::

        training:
          compression:
            objective: size          # the smallest variant within the metric budget
            max_metric_drop: 0.005
            prune_ratio: 0.25
    """

    enabled: bool = True
    """Build and measure the variants; false: serve the fp32 export (nothing else built)."""
    objective: Literal["speed", "size"] = "speed"
    """'speed': the fastest variant on the target hardware within the metric budget (at
    least min_speedup faster than fp32); 'size': the smallest model file within it."""
    max_metric_drop: Annotated[float, Field(ge=0.0)] = 0.01
    """Budget: a variant is a candidate only if its primary test metric (accuracy, or R2
    for regression) is at most this far below fp32's (0.01 = 1 percentage point); 0 admits
    only variants at least as good as fp32. Also read from training.max_metric_drop."""
    min_speedup: Annotated[float, Field(ge=1.0)] = 1.10
    """objective 'speed': a variant replaces fp32 only if fp32's latency is at least this
    many times its own (mean over batch 1 and 64 of the latency ratios)."""
    min_agreement: Annotated[float, Field(ge=0.0, le=1.0)] = 0.95
    """A quantized or fp16 variant must predict the same class as the float model it was
    made from on at least this share of test rows (regression: be within a tenth of the
    outputs' standard deviation); below it the variant is refused."""
    calibration_rows: PosInt = 512
    """Training rows (drawn with data.seed) fed through the model to calibrate static int8."""
    calibration_methods: list[CalibrationMethod] = ["minmax", "entropy", "percentile"]
    """Activation range methods tried for static int8, one variant each."""
    per_channel: bool = True
    """Static int8: one weight scale per output channel / unit (else one per tensor)."""
    prune_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.5
    """Share of the hidden units of each hidden Linear layer and of the channels of each
    conv block physically removed (0: no pruned variants; PyTorch models only)."""
    prune_criterion: Literal["l1", "bn_gamma"] = "l1"
    """How units are ranked before the weakest are removed: 'l1', the L1 norm of a unit's
    incoming weights (of a conv channel's filter); 'bn_gamma' ranks conv channels by
    |BatchNorm gamma| instead (Linear units still by L1)."""
    prune_finetune_epochs: PosInt = 10
    """Epochs of fine-tuning after pruning (the training loop; best epoch restored)."""
    fp16: bool = True
    """Build an fp16 variant (float32 inputs and outputs). Selected only when the target is
    a GPU: on CPU it is measured and marked 'gpu only'."""
    target: Literal["auto", "cpu", "cuda"] = "auto"
    """Hardware the variants are measured and chosen on: 'auto' uses CUDA when
    onnxruntime-gpu sees a GPU, else the CPU; 'cuda' fails when no GPU can be used."""
    latency_repeats: PosInt = 100
    """Timed runs per variant and batch size (after a warm-up); the median is kept."""


class TrainingSettings(BaseModel):
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
    oversample_minority: bool = False
    """Randomly repeat rows of the smaller classes (seeded) until every class has as many
    training rows as the largest; only the training split is resampled, validation and test
    rows are left as they are."""
    retrain: RetrainSettings = RetrainSettings()
    tuning: TuningSettings = Field(default_factory=TuningSettings)
    """Hyperparameter search (`trainsmart tune`); see TuningSettings."""
    compression: CompressionSettings = Field(default_factory=CompressionSettings)
    """Compressed variants and the choice of the served one; see CompressionSettings."""

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
