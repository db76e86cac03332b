"""Compression: the variants of real (small) models, their checks, the choice, pruning.

The Fair MLP is the session's champion (tests/training/conftest.py, compression on with
its defaults); a small digits CNN is trained and staged once for this module with every
variant file kept, so that the tests can open each one.
"""

from __future__ import annotations

import functools
import logging
import platform
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from apps.settings import Settings
from serving.runtime import load_model
from serving.settings import ServingSettings
from tests.training.conftest import Env, make_settings, open_env
from training.compress import NoGpu, VariantRow, choose, quantize, target_providers
from training.compress.counting import count_cost
from training.compress.errors import CompressionError
from training.compress.measure import CPU, CUDA, agreement
from training.compress.prune import kept_count, prune_network
from training.compress.quantize import X86, reduced_range
from training.data.images import load_digits_dataset
from training.frameworks import get_framework
from training.frameworks.pytorch.export import export_onnx
from training.frameworks.pytorch.trainer import fine_tune
from training.onnx_parity import check_parity, onnx_predict, parity_sample
from training.pipeline import TrainOutcome, register_staged
from training.settings import TrainingScope, TrainingSettings
from training.staging import Staged, stage_model
from training.train import TrainedModel, encode_target
from training.train import train_model as train

CNN_TRAINING: dict[str, Any] = {
    "architecture": "cnn",
    "conv_channels": [8, 16],
    "hidden_sizes": [16],
    "max_epochs": 8,
    "patience": 3,
    "batch_size": 64,
    "learning_rate": 0.003,
    "compression": {"prune_finetune_epochs": 3, "latency_repeats": 30},
}


def cnn_settings(data_dir: Path, **compression: Any) -> Settings:
    training = {**CNN_TRAINING, "compression": {**CNN_TRAINING["compression"], **compression}}
    return Settings(
        data_dir=data_dir,
        model_name="digits",
        data={"dataset": "digits", "reference_size": 100},
        training=training,
    )


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainingScope, TrainedModel]:
    settings = cnn_settings(tmp_path_factory.mktemp("cnn")).training_scope()
    return settings, train(settings, dataset=load_digits_dataset(), progress=False)


@pytest.fixture(scope="module")
def cnn_staged(
    cnn: tuple[TrainingScope, TrainedModel], tmp_path_factory: pytest.TempPathFactory
) -> Staged:
    settings, trained = cnn
    return stage_model(
        settings, trained, tmp_path_factory.mktemp("cnn-staging"), keep_variants=True
    )


def rows_of(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in metrics["variants"]["table"]}


# -- where variants are measured ------------------------------------------------------------
def test_the_target_is_the_cpu_on_this_machine(caplog: pytest.LogCaptureFixture) -> None:
    import onnxruntime as ort

    if CUDA in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu sees a GPU here")
    with caplog.at_level(logging.INFO, logger="training.compress"):
        assert target_providers("auto") == [CPU]
    assert "no CUDA provider" in caplog.text and "fp16" in caplog.text
    with pytest.raises(NoGpu, match="onnxruntime-gpu"):
        target_providers("cuda")


def test_the_target_is_cuda_when_onnxruntime_offers_it() -> None:
    both = [CUDA, CPU]
    assert target_providers("auto", available=both) == [CUDA, CPU]
    assert target_providers("cuda", available=both) == [CUDA, CPU]
    assert target_providers("cpu", available=both) == [CPU]
    assert target_providers("auto", available=[CPU]) == [CPU]


# -- the variants of real models ------------------------------------------------------------
def test_every_mlp_variant_is_built_and_agrees_with_its_float_model(
    champion: TrainOutcome,
) -> None:
    rows = rows_of(champion.metrics)
    assert set(rows) == {
        f"{prefix}{name}"
        for prefix in ("", "pruned_")
        for name in (
            "fp32",
            "int8_dynamic",
            "int8_static_minmax",
            "int8_static_entropy",
            "int8_static_percentile",
            "fp16",
        )
    }
    _check_agreement(rows, min_agreement=0.95)


def test_every_cnn_variant_is_built_and_agrees_with_its_float_model(cnn_staged: Staged) -> None:
    rows = rows_of(cnn_staged.metrics)
    assert {"fp32", "int8_static_minmax", "fp16", "pruned_fp32", "pruned_int8_static_entropy"} <= (
        rows.keys()
    )
    _check_agreement(rows, min_agreement=0.95)
    for name, row in rows.items():  # the files kept by keep_variants answer as measured
        path = cnn_staged.path / "variants" / f"{name}.onnx"
        assert path.stat().st_size == row["file_bytes"]


def _check_agreement(rows: dict[str, dict[str, Any]], min_agreement: float) -> None:
    for name, row in rows.items():
        assert row["error"] is None, (name, row["error"])
        assert row["file_bytes"] > 0 and set(row["latency_ms"]) == {"batch_1", "batch_64"}
        assert not row["status"].startswith("rejected: agrees"), (name, row["status"])
        if row["source"] != name:  # int8 / fp16 of the fp32 or pruned fp32 model
            assert row["source_agreement"] >= min_agreement, (name, row)
        if not row["pruned"]:  # same weights as fp32: close to it
            limit = 0.01 if row["kind"] == "fp16" else 0.1
            assert row["max_abs_diff"] <= limit, (name, row["max_abs_diff"])
            assert row["agreement"] >= min_agreement, (name, row["agreement"])
    assert rows["fp32"]["agreement"] == 1.0 and rows["fp32"]["max_abs_diff"] == 0.0


def test_a_cnn_never_gets_dynamic_quantization(cnn_staged: Staged, tmp_path: Path) -> None:
    variants = cnn_staged.metrics["variants"]
    assert not [row for row in variants["table"] if row["kind"] == "int8 dynamic"]
    assert "int8_dynamic" in variants["selection"]["skipped"]
    for path in (cnn_staged.path / "variants").glob("*.onnx"):
        ops = {node.op_type for node in onnx.load(str(path)).graph.node}
        assert "ConvInteger" not in ops, path.name
    with pytest.raises(CompressionError, match="conv nets"):
        quantize.dynamic_int8(cnn_staged.path / "variants" / "fp32.onnx", tmp_path / "x.onnx")


def test_static_int8_is_qdq_with_per_channel_weights(cnn_staged: Staged) -> None:
    graph = onnx.load(str(cnn_staged.path / "variants" / "int8_static_minmax.onnx")).graph
    ops = [node.op_type for node in graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and "Conv" in ops
    scales = {init.name: init for init in graph.initializer}
    per_channel = [
        node
        for node in graph.node
        if node.op_type == "DequantizeLinear"
        and node.input[1] in scales
        and len(scales[node.input[1]].dims) == 1
        and scales[node.input[1]].dims[0] > 1
    ]
    assert per_channel, "no weight was quantized with one scale per output channel"


def test_variants_are_stripped_of_debug_metadata(cnn_staged: Staged) -> None:
    model = onnx.load(str(cnn_staged.path / "model.onnx"))
    assert not any(node.metadata_props for node in model.graph.node)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["probabilities"]
    assert "/work" not in (cnn_staged.path / "model.onnx").read_bytes().decode("latin-1")


# -- the choice -----------------------------------------------------------------------------
def row(name: str, metric: float, ms: float, size: int = 1000, **extra: Any) -> VariantRow:
    source = extra.pop("source", "fp32")
    return VariantRow(
        name,
        extra.pop("kind", "int8 static"),
        source,
        file_bytes=size,
        latency_ms={1: ms, 64: ms * 10},
        metrics={"accuracy": metric},
        metric_drop=0.90 - metric,
        source_agreement=extra.pop("source_agreement", 1.0),
        **extra,
    )


def table() -> list[VariantRow]:
    return [
        row("fp32", 0.90, 1.0, 4000, kind="fp32", source="fp32", source_agreement=None),
        row("int8_static_minmax", 0.895, 0.5, 1000),
        row("pruned_fp32", 0.90, 0.8, 2000, kind="fp32", source="pruned_fp32"),
        row("pruned_int8_static_minmax", 0.91, 0.95, 600),
        row("fp16", 0.90, 0.2, 2000, kind="fp16", gpu_only=True),
    ]


def pick(rows: list[VariantRow], **kwargs: Any) -> str:
    options = {
        "objective": "speed",
        "max_drop": 0.01,
        "min_speedup": 1.1,
        "min_agreement": 0.95,
        "gpu": False,
    }
    return choose(rows, **{**options, **kwargs}).name


def test_speed_serves_the_fastest_variant_within_the_budget() -> None:
    rows = table()
    assert pick(rows) == "int8_static_minmax"
    statuses = {r.name: r.status for r in rows}
    assert statuses["int8_static_minmax"] == "served" and statuses["fp32"] == "reference"
    assert statuses["pruned_fp32"] == "candidate"
    assert statuses["pruned_int8_static_minmax"].startswith("rejected: 1.05x")
    assert statuses["fp16"] == "rejected: gpu only"


def test_a_refusal_just_under_the_speedup_does_not_read_as_meeting_it() -> None:
    rows = [row("fp32", 0.90, 1.0, kind="fp32", source_agreement=None), row("near", 0.90, 0.9107)]
    assert pick(rows) == "fp32"
    assert rows[1].status == "rejected: 1.098x fp32's speed (needs 1.1x)"


def test_a_budget_of_zero_admits_only_variants_at_least_as_good_as_fp32() -> None:
    """Budget 0: int8 (0.895 < 0.90) is out; pruned_fp32 (0.90 = fp32's) stays in and is
    served, being 1.25x faster; pruned int8 (0.91) is better but too slow to count."""
    rows = table()
    assert pick(rows, max_drop=0.0) == "pruned_fp32"
    assert next(r for r in rows if r.name == "int8_static_minmax").status.startswith(
        "rejected: metric drop"
    )
    worse = [r for r in table() if r.name in ("fp32", "int8_static_minmax")]
    assert pick(worse, max_drop=0.0) == "fp32"


def test_size_serves_the_smallest_variant_within_the_budget() -> None:
    assert pick(table(), objective="size") == "pruned_int8_static_minmax"
    assert pick(table(), objective="size", max_drop=0.0) == "pruned_int8_static_minmax"
    only_fp32_fits = [r for r in table() if r.name in ("fp32", "fp16")]
    assert pick(only_fp32_fits, objective="size") == "fp32"


def test_fp16_is_a_candidate_on_a_gpu_only() -> None:
    assert pick(table(), gpu=True) == "fp16"


def test_a_variant_that_disagrees_with_its_float_model_is_refused() -> None:
    rows = table()
    rows[1].source_agreement = 0.9
    assert pick(rows) == "pruned_fp32"
    assert rows[1].status.startswith("rejected: agrees with fp32 on 90.0%")


def test_a_zero_budget_on_a_real_model_never_serves_a_worse_variant(
    champion: TrainOutcome, tmp_path: Path
) -> None:
    settings = champion_settings(tmp_path, max_metric_drop=0.0)
    staged = stage_model(settings, champion.trained, tmp_path / "staging")
    rows = rows_of(staged.metrics)
    assert rows[staged.serving_variant]["metric_drop"] <= 0.0
    for name, values in rows.items():
        if values["metric_drop"] is not None and values["metric_drop"] > 0:
            assert values["status"].startswith("rejected"), name
    assert staged.metrics["serving"] == rows[staged.serving_variant]["metrics"]


def champion_settings(tmp_path: Path, **compression: Any) -> TrainingScope:
    settings = make_settings(tmp_path / "data", compression={"latency_repeats": 20, **compression})
    return settings.training_scope()


def test_compression_off_builds_fp32_only(champion: TrainOutcome, tmp_path: Path) -> None:
    settings = champion_settings(tmp_path, enabled=False)
    staged = stage_model(settings, champion.trained, tmp_path / "staging")
    assert staged.serving_variant == "fp32"
    assert list(rows_of(staged.metrics)) == ["fp32"]
    assert [p.name for p in (staged.path / "variants").iterdir()] == ["fp32.onnx"]


# -- pruning --------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0.5, 0.25])
def test_pruning_removes_the_requested_share_of_units(
    cnn: tuple[TrainingScope, TrainedModel], champion: TrainOutcome, ratio: float
) -> None:
    for model in (champion.model, cnn[1].model):
        pruned = prune_network(model, ratio)
        for _, (before, after) in pruned.widths.items():
            assert after == [kept_count(w, ratio) for w in before]
        layers_before, layers_after = pruned.before.layers, pruned.after.layers
        assert layers_before.keys() == layers_after.keys()
        for name, cost in layers_before.items():
            module = dict(model.named_modules())[name]
            width = module.out_features if isinstance(module, nn.Linear) else module.out_channels
            kept = dict(pruned.model.named_modules())[name]
            kept_width = kept.out_features if isinstance(kept, nn.Linear) else kept.out_channels
            if kept_width < width:  # a pruned layer: its parameters shrink at least as much
                assert kept_width == kept_count(width, ratio)
                assert layers_after[name].params <= cost.params * kept_width / width
        assert pruned.after.params < (1 - ratio) * pruned.before.params + 2 * 10
        assert pruned.after.flops < pruned.before.flops


def test_pruning_nothing_changes_nothing(champion: TrainOutcome) -> None:
    trained = champion.trained
    x = torch.from_numpy(trained.encode(trained.splits.test.frame.iloc[:50]))
    same = prune_network(champion.model, 0.0).model
    torch.testing.assert_close(same.predict_proba(x), champion.model.predict_proba(x))


def test_a_pruned_cnn_fine_tunes_exports_with_parity_and_serves(
    cnn: tuple[TrainingScope, TrainedModel], tmp_path: Path
) -> None:
    settings, trained = cnn
    pruned = prune_network(trained.model, 0.5)
    result = fine_tune(
        pruned.model,
        trained.encode(trained.train.frame),
        encode_target(trained.train.target, trained.dataset),
        trained.encode(trained.splits.validation.frame),
        encode_target(trained.splits.validation.target, trained.dataset),
        settings.training,
        2,
    )
    assert len(result.history) == 2 and result.model is pruned.model
    x_test = trained.encode(trained.splits.test.frame)
    path = export_onnx(pruned.model, x_test.shape[1], tmp_path / "pruned.onnx")
    pytorch = get_framework("torch")
    predict = functools.partial(pytorch.predict, pruned.model)
    gap = check_parity(predict, path, parity_sample(x_test), 1e-4, framework="pruned PyTorch")
    assert gap <= 1e-4
    with pytest.raises(Exception, match="at least 1 epoch"):
        fine_tune(pruned.model, x_test, x_test, x_test, x_test, settings.training, 0)


def test_a_registered_pruned_int8_cnn_serves_through_the_runtime(
    cnn: tuple[TrainingScope, TrainedModel], tmp_path: Path
) -> None:
    """objective: size with a wide budget serves the smallest file: a pruned int8 model."""
    _, trained = cnn
    settings = cnn_settings(tmp_path / "data", objective="size", max_metric_drop=1.0)
    env: Env = open_env(settings)
    staged = stage_model(env.scope, trained, tmp_path / "staging")
    assert staged.serving_variant.startswith("pruned_int8_static_")
    bundle = register_staged(env.scope, env.registry, staged)
    assert bundle.lineage().serving_variant == staged.serving_variant
    assert sorted(p.name for p in (bundle.path / "variants").iterdir()) == ["fp32.onnx"]
    loaded = load_model(env.registry, bundle.name, bundle.version, ServingSettings())
    x = trained.encode(trained.splits.test.frame)
    served = loaded.predict_proba(x)
    np.testing.assert_allclose(served, onnx_predict(bundle.model_path, x), atol=1e-6)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-4)
    row = rows_of(bundle.metrics())[staged.serving_variant]
    assert row["params"] < rows_of(bundle.metrics())["fp32"]["params"] / 2
    predicted = np.array(trained.contract.classes)[served.argmax(axis=1)]
    accuracy = float(np.mean(predicted == trained.splits.test.target.to_numpy()))
    assert accuracy == pytest.approx(row["metrics"]["accuracy"])


# -- the bundle and the report --------------------------------------------------------------
def test_the_variant_table_is_in_metrics_json_lineage_and_report(champion: TrainOutcome) -> None:
    bundle = champion.bundle
    variants = bundle.metrics()["variants"]
    selection = variants["selection"]
    assert selection["chosen"] == champion.serving_variant == bundle.lineage().serving_variant
    assert selection["objective"] == "speed" and selection["metric"] == "accuracy"
    assert selection["provider"] in (CPU, CUDA)
    assert [r["status"] for r in variants["table"]].count("served") == 1
    report = bundle.report_path.read_text(encoding="utf-8")
    assert "## Compressed variants" in report
    assert f"Served: **{champion.serving_variant}**" in report
    for entry in variants["table"]:
        assert f"| {entry['name']} | {entry['status']}" in report
    served = onnx_predict(
        bundle.model_path, champion.trained.encode(champion.trained.splits.test.frame)
    )
    assert served.shape[1] == 2


def test_a_regression_model_is_compared_on_r2(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        data={"dataset": "diabetes", "reference_size": 50},
        training={
            "hidden_sizes": [16],
            "max_epochs": 20,
            "compression": {"prune_finetune_epochs": 2, "latency_repeats": 20},
        },
    )
    scope = settings.training_scope()
    trained = train(scope, progress=False)
    staged = stage_model(scope, trained, tmp_path / "staging")
    variants = staged.metrics["variants"]
    assert variants["selection"]["metric"] == "r2"
    rows = rows_of(staged.metrics)
    for name, values in rows.items():
        assert values["error"] is None, (name, values["error"])
        assert values["metric_drop"] == pytest.approx(
            rows["fp32"]["metrics"]["r2"] - values["metrics"]["r2"]
        ), name
        assert 0.0 <= values["agreement"] <= 1.0


# -- settings and helpers -------------------------------------------------------------------
def test_the_old_max_metric_drop_setting_still_works() -> None:
    assert TrainingSettings(max_metric_drop=0.03).compression.max_metric_drop == 0.03
    new = TrainingSettings(compression={"max_metric_drop": 0.02})
    assert new.max_metric_drop == 0.02
    with pytest.raises(ValueError, match=r"keep only training\.compression\.max_metric_drop"):
        TrainingSettings(max_metric_drop=0.03, compression={"max_metric_drop": 0.02})
    assert TrainingSettings().compression.objective == "speed"


def test_flops_are_counted_for_linear_and_conv_layers() -> None:
    class Tiny(nn.Module):
        n_features = 16

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, kernel_size=3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(4 * 2 * 2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            maps = self.pool(self.conv(x.reshape(-1, 1, 4, 4)))
            out: torch.Tensor = self.fc(torch.flatten(maps, 1))
            return out

    cost = count_cost(Tiny(), 16)
    assert cost.layers["conv"].flops == 2 * (1 * 3 * 3) * 4 * 4 * 4
    assert cost.layers["fc"].flops == 2 * 16 * 3
    assert cost.params == (9 * 4 + 4) + (16 * 3 + 3)
    assert cost.flops == cost.layers["conv"].flops + cost.layers["fc"].flops


def test_agreement_counts_classes_or_values() -> None:
    reference = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    share, worst = agreement(reference, np.array([[0.8, 0.2], [0.6, 0.4], [0.2, 0.8]]), False)
    assert share == pytest.approx(2 / 3) and worst == pytest.approx(0.2)
    values = np.array([[0.0], [10.0], [20.0]])  # std 8.16: tolerance 0.816
    share, worst = agreement(values, values + np.array([[0.5], [2.0], [0.0]]), True)
    assert share == pytest.approx(2 / 3) and worst == pytest.approx(2.0)


def test_strip_keeps_the_answers_and_the_tensor_names(
    champion: TrainOutcome, tmp_path: Path
) -> None:
    trained = champion.trained
    raw = export_onnx(champion.model, len(trained.contract.features), tmp_path / "raw.onnx")
    slim = quantize.strip(raw, tmp_path / "slim.onnx")
    assert slim.stat().st_size < raw.stat().st_size / 1.5
    x = trained.encode(trained.splits.test.frame)
    np.testing.assert_array_equal(onnx_predict(slim, x), onnx_predict(raw, x))


@pytest.mark.skipif(platform.machine().lower() not in X86, reason="the rule is for x86 CPUs")
def test_int8_weights_use_7_bits_on_x86_without_vnni(tmp_path: Path) -> None:
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    vnni = tmp_path / "vnni"
    vnni.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni\n")
    assert reduced_range(avx2) is True
    assert reduced_range(vnni) is False
    assert reduced_range(tmp_path / "unreadable") is True  # unknown: the safe choice
