"""Knowledge distillation: a smaller student within the budget on digits, its loss, its
widths, its determinism, and its place in the variant table."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from apps.settings import Settings
from training.compress.build import Compression, compress
from training.compress.distill import DISTILLED, DISTILLED_INT8
from training.compress.student import distill, distillation_loss, student_body
from training.compress.table import variants_markdown
from training.data.images import load_digits_dataset
from training.encoding import build_contract, encode_frame
from training.frameworks import get_framework
from training.frameworks.pytorch.models import CNN, MLP, Network
from training.onnx_parity import parity_sample
from training.preprocess import Preprocessor
from training.settings import CompressionSettings, FeatureConfig, TrainingSettings
from training.settings.distill import DistillSettings
from training.train import TrainedModel, train_model

BUDGET = 0.02
NO_GPU = "no GPU here: torch.cuda.is_available() is False (runs on a CUDA machine)"
DIGITS: dict[str, Any] = {
    "architecture": "cnn",
    "conv_channels": [16, 32],
    "hidden_sizes": [32],
    "max_epochs": 12,
    "patience": 3,
    "batch_size": 64,
    "learning_rate": 0.003,
    "compression": {
        "objective": "size",
        "max_metric_drop": BUDGET,
        "prune_ratio": 0.0,
        "calibration_methods": ["minmax"],
        "fp16": False,
        "latency_repeats": 10,
        "distill": {"enabled": True, "width_fraction": 0.5, "epochs": 20},
    },
}


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainedModel, Compression]:
    """A digits CNN teacher, compressed with distillation on (no pruning, one int8)."""
    work = tmp_path_factory.mktemp("distill")
    scope = Settings(
        data_dir=work,
        model_name="digits",
        data={"dataset": "digits", "reference_size": 100},
        training=DIGITS,
    ).training_scope()
    trained = train_model(scope, dataset=load_digits_dataset(), progress=False)
    raw = get_framework("torch").export(trained.model, trained.contract, work / "raw.onnx")
    sample = parity_sample(trained.encode(trained.splits.test.frame))
    result = compress(
        trained, raw, scope.training, work / "variants", seed=scope.data.seed, parity_rows=sample
    )
    return trained, result


def test_distillation_gives_a_smaller_variant_within_the_budget(
    digits: tuple[TrainedModel, Compression],
) -> None:
    _, result = digits
    fp32 = result.row("fp32")
    for name in (DISTILLED, DISTILLED_INT8):
        row = result.row(name)
        assert row.error is None, row.error
        assert row.params is not None and fp32.params is not None
        assert row.flops is not None and fp32.flops is not None
        assert row.params < fp32.params / 2, (row.params, fp32.params)
        assert row.flops < fp32.flops / 2, (row.flops, fp32.flops)
        assert row.metric_drop is not None and row.metric_drop <= BUDGET, row.metric_drop
        assert row.status in ("candidate", "served"), row.status
    # objective 'size': the smallest file within the budget is the int8 student
    assert result.choice.name == DISTILLED_INT8, result.choice
    assert result.row(DISTILLED_INT8).file_bytes < result.row("fp32").file_bytes  # type: ignore[operator]


def test_distilled_files_are_the_narrow_student_float_and_static_int8(
    digits: tuple[TrainedModel, Compression],
) -> None:
    _, result = digits
    float_graph = onnx.load(str(result.paths[DISTILLED])).graph
    shapes = {init.name: list(init.dims) for init in float_graph.initializer}
    conv_weights = sorted(s[0] for s in shapes.values() if len(s) == 4)
    assert conv_weights == [8, 16]  # the student's channels: half of [16, 32]
    int8_ops = {node.op_type for node in onnx.load(str(result.paths[DISTILLED_INT8])).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= int8_ops  # static QDQ, as for CNNs
    assert result.row(DISTILLED_INT8).calibration == "minmax"
    assert result.row(DISTILLED_INT8).source == DISTILLED


def test_variant_table_describes_the_distillation(
    digits: tuple[TrainedModel, Compression],
) -> None:
    section = digits[1].section()
    info = section["selection"]["distillation"]
    assert info["widths"]["conv_channels"] == {"before": [16, 32], "after": [8, 16]}
    assert 1 <= info["best_epoch"] <= info["epochs_run"] <= 20
    text = "\n".join(variants_markdown(section))
    assert "Distillation: a student of conv_channels [16, 32] -> [8, 16]" in text
    assert "| distilled_int8 | served |" in text


def test_loss_mixes_the_softened_teacher_and_the_labels() -> None:
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(6, 4, generator=generator)
    teacher = torch.randn(6, 4, generator=generator)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    temperature = 3.0
    hard = F.cross_entropy(student, labels)
    soft_teacher = torch.softmax(teacher / temperature, dim=1)
    kl = (soft_teacher * (soft_teacher.log() - torch.log_softmax(student / temperature, 1))).sum()
    kl = kl / len(student)

    def loss(alpha: float, s: torch.Tensor = student) -> torch.Tensor:
        return distillation_loss(s, teacher, labels, temperature=temperature, alpha=alpha)

    torch.testing.assert_close(loss(0.0), hard)
    torch.testing.assert_close(loss(1.0), temperature**2 * kl)
    torch.testing.assert_close(loss(0.25), 0.25 * temperature**2 * kl + 0.75 * hard)
    assert float(loss(1.0, teacher.clone())) == pytest.approx(0.0, abs=1e-6)


def test_regression_loss_is_mean_squared_error_to_teacher_and_target() -> None:
    student, teacher, target = torch.zeros(4, 1), torch.ones(4, 1), torch.full((4, 1), 2.0)
    value = distillation_loss(student, teacher, target, temperature=4.0, alpha=0.5, regression=True)
    assert float(value) == pytest.approx(0.5 * 1.0 + 0.5 * 4.0)


def test_student_widths_from_the_fraction_or_the_settings() -> None:
    teacher = CNN([1, 8, 8], [32, 64], [64], 0.2, 10)
    body, widths = student_body(_network(teacher), DistillSettings(width_fraction=0.25))
    assert isinstance(body, CNN)
    assert widths == {"conv_channels": ([32, 64], [8, 16]), "hidden_sizes": ([64], [16])}
    mlp = MLP(5, [64, 32], 0.1, 2)
    body, widths = student_body(_network(mlp), DistillSettings(hidden_sizes=[12]))
    assert isinstance(body, MLP)
    assert widths == {"hidden_sizes": ([64, 32], [12])}


def _network(body: torch.nn.Module) -> Network:
    n = 64 if isinstance(body, CNN) else 5
    frame = pd.DataFrame(np.zeros((4, n)), columns=[f"f{i}" for i in range(n)])
    features = [FeatureConfig(name=c) for c in frame.columns]
    contract = build_contract(frame, features, ["a", "b"], nullable=True)
    return Network(Preprocessor.fit(encode_frame(frame, contract), contract), body)


def _toy() -> tuple[Network, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    y = (frame["a"] + frame["b"] > 0).astype(np.int64).to_numpy()
    features = [FeatureConfig(name=c) for c in frame.columns]
    contract = build_contract(frame.iloc[:200], features, ["0", "1"], nullable=True)
    x = encode_frame(frame, contract)
    teacher = _network(MLP(4, [16], 0.1, 2))
    teacher.preprocessor = Preprocessor.fit(x[:200], contract)
    return teacher, x, y


def _settings(device: str = "auto") -> TrainingSettings:
    return TrainingSettings(
        batch_size=64,
        device=device,
        compression={"distill": {"enabled": True, "epochs": 3, "hidden_sizes": [4]}},
    )


def test_same_seed_gives_the_same_student() -> None:
    teacher, x, y = _toy()
    settings = _settings()
    runs = [distill(teacher, x[:200], y[:200], x[200:], y[200:], settings) for _ in range(2)]
    first, second = (r.fit.model.state_dict() for r in runs)
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)
    assert next(runs[0].fit.model.parameters()).device.type == "cpu"


def test_distill_settings_default_off_and_refuse_unknown_keys() -> None:
    assert CompressionSettings().distill.enabled is False
    with pytest.raises(ValidationError, match="temprature"):
        CompressionSettings.model_validate({"distill": {"temprature": 2.0}})
    with pytest.raises(ValidationError):
        DistillSettings(width_fraction=1.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_distills_on_cuda_and_hands_back_cpu_models() -> None:
    teacher, x, y = _toy()
    result = distill(teacher, x[:200], y[:200], x[200:], y[200:], _settings("cuda"))
    assert next(result.fit.model.parameters()).device.type == "cpu"
    assert next(teacher.parameters()).device.type == "cpu"
    assert len(result.fit.history) == 3
