"""GPU benchmark: issue J's two tables, measured on a machine with an NVIDIA GPU.

1. Our bundles, CPU against CUDA (ONNX Runtime's default, TF32 on) at batch 1 and 8192:
   the Fair MLP and the digits CNN (fp32, pruned_fp32, fp16 variants), the share of nodes
   CUDA ran (from ONNX Runtime's profile) and the largest difference from the same graph
   on the CPU with TF32 on and off.
2. ResNet-18 (CIFAR layout: 32x32 RGB, 10 classes, seeded random weights, softmax output):
   CPU fp32 at batch 1 and 64; CUDA fp32 with TF32 on, TF32 off, and fp16, at 1, 64 and
   1024, each with its largest probability difference from CPU fp32 and the share of
   rows with CPU fp32's class.

Two steps, because the GPU machine has torch but not this project's dependencies::

    python -m bench.gpu prepare runs/gpu-models   # here: trains both models (torch, the project)
    python -m bench.gpu run runs/gpu-models       # there: onnxruntime-gpu, numpy (torch, onnx
                                                  # to build ResNet-18, unless prepared here)

``python -m bench.gpu`` alone does both in a temporary folder. ``run`` without CUDA says
it needs a GPU and exits 2.

Bringing onnxruntime-gpu to a GPU machine without network (its python has torch with the
CUDA 13 nvidia-* wheels, and the CPU build of onnxruntime): the onnxruntime-gpu 1.31.1
wheel for CUDA 13 is 255 MB, over the 64 MiB one call may carry. Here::

    pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --platform manylinux_2_27_x86_64 -d /tmp/w onnxruntime-gpu==1.31.1
    for i in 1 2 3 4 5; do mkdir -p .ortgpu$i; echo /.ortgpu$i/ >> .git/info/exclude; done
    split -b 52000000 /tmp/w/onnxruntime_gpu-*.whl part.   # part.aa .. part.ae
    mv part.aa .ortgpu1/; mv part.ab .ortgpu2/; ...       # one part per folder

Carry one folder per call (the machine keeps them between calls while it stays warm),
then, in the call that measures::

    cat .ortgpu*/part.* > /tmp/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_27_x86_64.whl
    pip install --no-deps --target /tmp/ortgpu /tmp/onnxruntime_gpu-*.whl
    PYTHONPATH=/tmp/ortgpu python3 -m bench.gpu run runs/gpu-models

``--no-deps`` keeps the machine's CUDA libraries (the nvidia-* wheels beside torch);
``onnxruntime.preload_dlls()`` loads them before the first session, which this module and
the service (serving/providers.py) call. docs/gpu.md has the rest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
OURS = {"fair": None, "digits": "digits.yaml"}
"""Our models: name -> config in configs/ (None: the defaults, the Fair MLP)."""
VARIANTS = ("fp32", "pruned_fp32", "fp16")
ROOT = Path(__file__).resolve().parents[1]
NEEDS_GPU = 2


def prepare(folder: Path) -> None:
    """Train our two models with every variant kept; write their graphs and test rows."""
    # lazy: the training stage and torch, only to prepare (the GPU side needs neither)
    from apps.settings import load_settings
    from training.staging import stage_model
    from training.train import train_model

    for name, config in OURS.items():
        out = folder / name
        out.mkdir(parents=True, exist_ok=True)
        base = (ROOT / "configs" / config).read_text() if config else ""
        path = out / "settings.yaml"
        path.write_text(base + f"\ndata_dir: {out / 'data'}\n")
        scope = load_settings(path).training_scope()
        trained = train_model(scope, progress=False)
        staged = stage_model(scope, trained, out / "staging", keep_variants=True)
        for variant in VARIANTS:
            source = staged.path / "variants" / f"{variant}.onnx"
            if source.is_file():
                (out / f"{variant}.onnx").write_bytes(source.read_bytes())
        rows = trained.encode(trained.splits.test.frame).astype(np.float32)
        np.save(out / "rows.npy", rows)
        print(f"prepared {name}: {sorted(p.name for p in out.glob('*.onnx'))}", flush=True)


def session(path: Path, providers: list[Any], profile: Path | None = None) -> Any:
    """A session; ``profile``: the file prefix of ONNX Runtime's profile (None: off)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if profile is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile)
    return ort.InferenceSession(str(path), options, providers=providers)


def cuda(tf32: bool) -> list[Any]:
    return [(CUDA, {"use_tf32": "1" if tf32 else "0"}), CPU]


def median_ms(sess: Any, rows: np.ndarray, batch: int, repeats: int) -> float:
    feed = {
        sess.get_inputs()[0].name: np.ascontiguousarray(np.resize(rows, (batch, *rows.shape[1:])))
    }
    for _ in range(5):
        sess.run(None, feed)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def outputs(sess: Any, rows: np.ndarray) -> np.ndarray:
    return np.asarray(sess.run(None, {sess.get_inputs()[0].name: rows})[0], dtype=np.float64)


def on_cuda(path: Path, rows: np.ndarray) -> str:
    """'CUDA ran n of m nodes', from ONNX Runtime's profile of one call."""
    with tempfile.TemporaryDirectory(prefix="trainsmart-ort-profile-") as tmp:
        sess = session(path, cuda(True), profile=Path(tmp) / "profile")
        outputs(sess, rows[:8])
        events = json.loads(Path(sess.end_profiling()).read_text())
    nodes = {
        e["name"]: e["args"]["provider"]
        for e in events
        if e.get("cat") == "Node" and "provider" in e.get("args", {})
    }
    count = Counter(nodes.values())
    return f"{count[CUDA]} of {len(nodes)}"


def ours_table(folder: Path, repeats: int) -> list[str]:
    lines = [
        "| model | variant | CPU b1 ms | CUDA b1 ms | CPU b8192 ms | CUDA b8192 ms | "
        "b8192 speed-up | nodes on CUDA | max diff TF32 on | max diff TF32 off |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in OURS:
        rows = np.load(folder / name / "rows.npy")
        for variant in VARIANTS:
            path = folder / name / f"{variant}.onnx"
            if not path.is_file():
                continue
            cpu, gpu = session(path, [CPU]), session(path, cuda(True))
            exact = session(path, cuda(False))
            reference = outputs(cpu, rows)  # the same graph on the CPU
            ms = {
                (d, b): median_ms(s, rows, b, repeats)
                for d, s in (("cpu", cpu), ("cuda", gpu))
                for b in (1, 8192)
            }
            diffs = [np.max(np.abs(outputs(s, rows) - reference)) for s in (gpu, exact)]
            lines.append(
                f"| {name} | {variant} | {ms['cpu', 1]:.3f} | {ms['cuda', 1]:.3f} | "
                f"{ms['cpu', 8192]:.2f} | {ms['cuda', 8192]:.2f} | "
                f"{ms['cpu', 8192] / ms['cuda', 8192]:.1f}x | {on_cuda(path, rows)} | "
                f"{diffs[0]:.2g} | {diffs[1]:.2g} |"
            )
    return lines


def resnet18(path: Path) -> Path:
    """ResNet-18 for 32x32 inputs (3x3 stem, no max pool), seeded, softmax out, as ONNX."""
    # lazy: torch, only to build ResNet-18 (the GPU machine's python has it)
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
            )  # fmt: skip
            self.skip = (
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                if stride != 1 or cin != cout
                else nn.Identity()
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.body(x) + self.skip(x))

    torch.manual_seed(0)
    widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        *[nn.Sequential(Block(i, o, s), Block(o, o, 1)) for i, o, s in widths],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10), nn.Softmax(dim=1),
    ).eval()  # fmt: skip
    batch = torch.export.Dim("batch")
    torch.onnx.export(
        model, (torch.zeros(2, 3, 32, 32),), str(path), dynamo=True, input_names=["input"],
        output_names=["probabilities"], dynamic_shapes=({0: batch},), external_data=False,
        verbose=False,
    )  # fmt: skip
    return path


def fp16(source: Path, out: Path) -> Path:
    # lazy: onnx and ONNX Runtime's converter, only for the fp16 graph
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), str(out))
    return out


def resnet_table(folder: Path, repeats: int) -> list[str]:
    path = folder / "resnet18.onnx"
    if not path.is_file():
        resnet18(path)
    half = fp16(path, folder / "resnet18_fp16.onnx")
    rows = np.random.default_rng(0).standard_normal((1024, 3, 32, 32)).astype(np.float32)
    cpu = session(path, [CPU])
    reference = outputs(cpu, rows)
    lines = [
        "| ResNet-18 32x32 | b1 ms | b64 ms | b1024 ms | max diff | same class |",
        "|---|---|---|---|---|---|",
        f"| CPU fp32 | {median_ms(cpu, rows, 1, repeats):.2f} | "
        f"{median_ms(cpu, rows, 64, repeats):.2f} | - | - | - |",
    ]
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("CUDA fp32, TF32 on", lambda: session(path, cuda(True))),
        ("CUDA fp32, TF32 off", lambda: session(path, cuda(False))),
        ("CUDA fp16", lambda: session(half, cuda(False))),
    ]
    for label, make in cases:
        sess = make()
        got = outputs(sess, rows)
        same = float(np.mean(got.argmax(axis=1) == reference.argmax(axis=1)))
        ms = " | ".join(f"{median_ms(sess, rows, b, repeats):.2f}" for b in (1, 64, 1024))
        lines.append(f"| {label} | {ms} | {np.max(np.abs(got - reference)):.2g} | {same:.1%} |")
    return lines


def run(folder: Path, repeats: int) -> int:
    """Print both tables as Markdown; 2 when ONNX Runtime offers no CUDA here."""
    available = ort.get_available_providers()
    if CUDA not in available:
        print(
            f"bench.gpu needs a GPU: ONNX Runtime {ort.__version__} offers {available}; run it "
            "on a machine with an NVIDIA GPU and onnxruntime-gpu (docs/gpu.md)",
            file=sys.stderr,
        )
        return NEEDS_GPU
    ort.preload_dlls()
    print(f"ONNX Runtime {ort.__version__}, {available[0]}; median of {repeats} calls\n")
    print("\n".join(["## Our bundles", "", *ours_table(folder, repeats), ""]))
    print("\n".join(["## ResNet-18", "", *resnet_table(folder, repeats)]), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    parser.add_argument("step", nargs="?", choices=["prepare", "run"], default=None)
    parser.add_argument("folder", nargs="?", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare(args.folder or Path("runs/gpu-models"))
        return 0
    if args.step == "run":
        return run(args.folder or Path("runs/gpu-models"), args.repeats)
    if CUDA not in ort.get_available_providers():
        return run(Path("."), args.repeats)  # says it needs a GPU
    with tempfile.TemporaryDirectory(prefix="trainsmart-gpu-bench-") as tmp:
        prepare(Path(tmp))
        return run(Path(tmp), args.repeats)


if __name__ == "__main__":
    sys.exit(main())
