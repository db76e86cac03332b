"""Provider choice: small calls on the CPU, large ones on CUDA when CUDA is offered.

This machine has no GPU and the CPU build of ONNX Runtime, so a real CUDA session cannot
exist here. Where a test needs one, it injects the provider list ONNX Runtime would report
on a GPU machine and a session factory whose CUDA "session" is a stand-in
(tests/cuda.py: the same graph on ONNX Runtime's CPU provider, reporting CUDA and
recording its calls); that is the only stand-in. Everything else is real: the bundle, the
CPU session, the selection logic, the load-time checks, the Prometheus counter. On a GPU
machine, bench/gpu.py runs the real thing (docs/gpu.md).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from prometheus_client import CollectorRegistry

from serving.gpu_profile import GpuProfile, write_profile
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.providers import (
    CPU,
    CUDA,
    DEFAULT_GPU_MIN_ROWS,
    CudaUnavailable,
    GpuSetup,
    device_for,
    gpu_source,
    plan_cuda,
)
from serving.runtime import ModelHolder, load_model
from serving.settings import ServingSettings
from tests.conftest import BundleFactory, fair_row
from tests.cuda import OFFERED, Factory
from trainsmart.registry import Bundle, Registry
from trainsmart.state import InputLog


def rows_counted(metrics_registry: CollectorRegistry, device: str) -> float | None:
    return metrics_registry.get_sample_value(
        "trainsmart_inference_rows_total", {"model": "fair", "device": device}
    )


def matrix(n: int) -> np.ndarray:
    return np.resize(np.arange(8, dtype=np.float32), (n, 8))


# -- the plan: pure ------------------------------------------------------------------------


def test_plan_without_cuda_is_the_cpu_and_cuda_asked_for_is_refused() -> None:
    assert plan_cuda("auto", None, None, [CPU]).min_rows is None
    assert "no CUDA provider" in plan_cuda("auto", None, None, [CPU]).why
    assert plan_cuda("cpu", None, None, OFFERED).min_rows is None
    with pytest.raises(CudaUnavailable) as caught:
        plan_cuda("cuda", None, None, ["AzureExecutionProvider", CPU])
    message = str(caught.value)
    assert "serving.device is 'cuda'" in message
    assert "AzureExecutionProvider, CPUExecutionProvider" in message
    assert "onnxruntime-gpu" in message and "serving.device to auto or cpu" in message


def test_plan_with_cuda_takes_the_setting_then_the_measurement_then_the_default() -> None:
    measured = GpuProfile(
        model="fair", version="v1", source="model.onnx", min_rows=1024, precision="tf32"
    )
    never = GpuProfile(
        model="fair", version="v1", source="model.onnx", min_rows=None, reason="CUDA never faster"
    )
    default = plan_cuda("auto", None, None, OFFERED)
    assert (default.min_rows, default.precision) == (DEFAULT_GPU_MIN_ROWS, "fp32")
    assert "not measured" in default.why
    assert (plan_cuda("auto", None, measured, OFFERED).min_rows, "tf32") == (1024, "tf32")
    assert plan_cuda("auto", None, measured, OFFERED).precision == "tf32"
    assert plan_cuda("auto", 64, measured, OFFERED).min_rows == 64
    assert plan_cuda("auto", None, never, OFFERED).min_rows is None
    assert plan_cuda("cuda", None, never, OFFERED).min_rows == 1


def test_device_for_sends_small_calls_to_the_cpu_and_large_ones_to_cuda() -> None:
    assert device_for(1, 256) == "cpu"
    assert device_for(255, 256) == "cpu"
    assert device_for(256, 256) == "cuda"
    assert device_for(8192, 256) == "cuda"
    assert device_for(8192, None) == "cpu"


def test_cuda_runs_the_float_graph(make_bundle: BundleFactory, registry: Registry) -> None:
    bundle = registry.get("fair", make_bundle())
    assert gpu_source(bundle) == bundle.model_path  # fp32 served, no reference kept
    int8 = _copy(bundle, Path(bundle.path).parent / "int8", "int8_dynamic")
    assert gpu_source(int8) == int8.path / "variants" / "fp32.onnx"
    pruned = _copy(bundle, Path(bundle.path).parent / "pruned", "pruned_fp32")
    assert gpu_source(pruned) == pruned.model_path


def _copy(bundle: Bundle, folder: Path, variant: str) -> Bundle:
    (folder / "variants").mkdir(parents=True)
    for name in ("model.onnx", "contract.json"):
        (folder / name).write_bytes((bundle.path / name).read_bytes())
    (folder / "variants" / "fp32.onnx").write_bytes(bundle.model_path.read_bytes())
    lineage = json.loads((bundle.path / "lineage.json").read_text())
    (folder / "lineage.json").write_text(json.dumps({**lineage, "serving_variant": variant}))
    return Bundle("fair", bundle.version, folder)


# -- loading and answering -----------------------------------------------------------------


def test_a_small_request_runs_on_cpu_and_a_large_one_on_cuda(
    make_bundle: BundleFactory, registry: Registry, tmp_path: Path
) -> None:
    """The acceptance test of issue J, simulated: CUDA offered, no measurement."""
    version = make_bundle()
    metrics_registry = CollectorRegistry()
    factory = Factory()
    setup = GpuSetup(tmp_path / "gpu", ServingMetrics(metrics_registry), OFFERED, factory)
    model = load_model(registry, "fair", version, ServingSettings(), setup)
    assert model.cuda is not None
    assert (model.cuda.min_rows, model.cuda.precision) == (DEFAULT_GPU_MIN_ROWS, "fp32")
    (cuda,) = factory.cuda
    assert cuda.providers == [(CUDA, {"use_tf32": "0"}), CPU]  # exact fp32 until measured
    cuda.calls.clear()  # the load-time parity probe

    small = model.predict_proba(matrix(1))
    assert cuda.calls == []
    large = model.predict_proba(matrix(300))
    assert cuda.calls == [300]
    assert rows_counted(metrics_registry, "cpu") == 1
    assert rows_counted(metrics_registry, "cuda") == 300
    np.testing.assert_allclose(large[:1], small, rtol=1e-6)


def test_without_cuda_nothing_changes(
    make_bundle: BundleFactory, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """The real providers of this machine: CPU only, no route, nothing counted."""
    caplog.set_level(logging.INFO, logger="serving.cuda")
    metrics_registry = CollectorRegistry()
    setup = GpuSetup(metrics=ServingMetrics(metrics_registry))
    model = load_model(registry, "fair", make_bundle(), ServingSettings(), setup)
    assert CUDA not in ort.get_available_providers()
    assert model.cuda is None
    assert model.predict_proba(matrix(2000)).shape == (2000, 2)
    assert rows_counted(metrics_registry, "cpu") is None
    assert "on CPU (no CUDA provider available)" in caplog.text


def test_device_cpu_never_opens_cuda(
    make_bundle: BundleFactory, registry: Registry, tmp_path: Path
) -> None:
    factory = Factory()
    setup = GpuSetup(tmp_path, None, OFFERED, factory)
    model = load_model(registry, "fair", make_bundle(), ServingSettings(device="cpu"), setup)
    assert model.cuda is None and factory.cuda == []


def test_device_cuda_runs_every_call_on_cuda(
    make_bundle: BundleFactory, registry: Registry, tmp_path: Path
) -> None:
    factory = Factory()
    setup = GpuSetup(tmp_path, None, OFFERED, factory)
    model = load_model(registry, "fair", make_bundle(), ServingSettings(device="cuda"), setup)
    assert model.cuda is not None and model.cuda.min_rows == 1
    factory.cuda[0].calls.clear()
    model.predict_proba(matrix(1))
    assert factory.cuda[0].calls == [1]


def test_device_cuda_without_cuda_refuses_the_version(
    make_bundle: BundleFactory, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    version = make_bundle()
    with pytest.raises(CudaUnavailable, match=re.escape("serving.device is 'cuda'")):
        load_model(registry, "fair", version, ServingSettings(device="cuda"), GpuSetup())
    holder = ModelHolder(registry, "fair", ServingSettings(device="cuda"))
    holder.refresh()
    assert not holder.ready
    assert "CUDA is not available to ONNX Runtime here" in caplog.text


def test_the_measurement_sets_threshold_and_precision(
    make_bundle: BundleFactory, registry: Registry, tmp_path: Path
) -> None:
    version = make_bundle()
    profile = GpuProfile(
        model="fair",
        version=version,
        source="model.onnx",
        min_rows=1024,
        precision="tf32",
        onnxruntime=ort.__version__,
    )
    write_profile(tmp_path, profile)
    factory = Factory()
    setup = GpuSetup(tmp_path, None, OFFERED, factory)
    model = load_model(registry, "fair", version, ServingSettings(), setup)
    assert model.cuda is not None
    assert (model.cuda.min_rows, model.cuda.precision) == (1024, "tf32")
    assert factory.cuda[0].providers[0] == (CUDA, {"use_tf32": "1"})
    # the setting wins over the measurement; the precision stays the measured one
    model = load_model(registry, "fair", version, ServingSettings(gpu_min_rows=32), setup)
    assert model.cuda is not None and (model.cuda.min_rows, model.cuda.precision) == (32, "tf32")


def test_a_measured_never_keeps_every_call_on_the_cpu(
    make_bundle: BundleFactory, registry: Registry, tmp_path: Path
) -> None:
    version = make_bundle()
    write_profile(
        tmp_path,
        GpuProfile(
            model="fair",
            version=version,
            source="model.onnx",
            min_rows=None,
            reason="CUDA never faster",
        ),
    )
    factory = Factory()
    model = load_model(
        registry, "fair", version, ServingSettings(), GpuSetup(tmp_path, None, OFFERED, factory)
    )
    assert model.cuda is None and factory.cuda == []


def test_a_missing_fp16_graph_falls_back_to_exact_fp32(
    make_bundle: BundleFactory,
    registry: Registry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    version = make_bundle()
    write_profile(
        tmp_path,
        GpuProfile(
            model="fair",
            version=version,
            source="model.onnx",
            min_rows=512,
            precision="fp16",
            fp16_file="gone.onnx",
            fp16_sha256="0" * 64,
        ),
    )
    factory = Factory()
    model = load_model(
        registry, "fair", version, ServingSettings(), GpuSetup(tmp_path, None, OFFERED, factory)
    )
    assert model.cuda is not None and model.cuda.precision == "fp32"
    assert factory.cuda[0].providers[0] == (CUDA, {"use_tf32": "0"})
    assert "fp16 graph is missing or changed" in caplog.text


@pytest.mark.parametrize(
    ("factory", "why"),
    [
        (Factory(reported=[CPU]), "runs on CPUExecutionProvider, not CUDA"),
        (Factory(noise=1e-3), "differs from the CPU by 0.001"),
    ],
    ids=["fell-back-to-cpu", "over-parity"],
)
def test_a_cuda_session_that_fails_its_check_is_not_used(
    make_bundle: BundleFactory,
    registry: Registry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    factory: Factory,
    why: str,
) -> None:
    version = make_bundle()
    setup = GpuSetup(tmp_path, None, OFFERED, factory)
    model = load_model(registry, "fair", version, ServingSettings(), setup)
    assert model.cuda is None
    assert why in caplog.text and "on CPU only" in caplog.text
    with pytest.raises(CudaUnavailable, match=re.escape(why)):
        load_model(registry, "fair", version, ServingSettings(device="cuda"), setup)


def test_requests_through_the_predictor_run_where_their_size_says(
    make_bundle: BundleFactory, registry: Registry, input_log: InputLog, tmp_path: Path
) -> None:
    """/predict's path, in process: a 1-row request on the CPU, a 300-row one on CUDA."""
    make_bundle()
    metrics_registry = CollectorRegistry()
    metrics = ServingMetrics(metrics_registry)
    factory = Factory()
    settings = ServingSettings()
    holder = ModelHolder(
        registry, "fair", settings, gpu=GpuSetup(tmp_path, metrics, OFFERED, factory)
    )
    holder.refresh()
    predictor = Predictor(holder, None, input_log, metrics, settings, registry)
    factory.cuda[0].calls.clear()
    one = predictor.predict({"instances": [fair_row()]})
    many = predictor.predict({"instances": [fair_row(age=float(20 + i % 40)) for i in range(300)]})
    assert factory.cuda[0].calls == [300]
    assert rows_counted(metrics_registry, "cpu") == 1
    assert rows_counted(metrics_registry, "cuda") == 300
    assert len(many["predictions"]) == 300 and one["version"] == many["version"]


@pytest.mark.skipif(
    CUDA not in ort.get_available_providers(),
    reason="needs onnxruntime-gpu and a GPU (none here); bench/gpu.py and docs/gpu.md",
)
def test_on_a_real_gpu_small_calls_stay_on_cpu_and_large_ones_run_on_cuda(
    make_bundle: BundleFactory, registry: Registry, tmp_path: Path
) -> None:
    """No stand-in: ONNX Runtime's own CUDA session, on a machine that has one."""
    metrics_registry = CollectorRegistry()
    setup = GpuSetup(tmp_path, ServingMetrics(metrics_registry))
    model = load_model(registry, "fair", make_bundle(), ServingSettings(), setup)
    assert model.cuda is not None
    assert model.cuda.session.get_providers()[0] == CUDA
    small, large = model.predict_proba(matrix(1)), model.predict_proba(matrix(4096))
    assert rows_counted(metrics_registry, "cpu") == 1
    assert rows_counted(metrics_registry, "cuda") == 4096
    np.testing.assert_allclose(large[:1], small, atol=1e-4)
