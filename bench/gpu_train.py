"""Training the digits CNN on CUDA and on the CPU: time and test accuracy of each.

Runs standalone on a GPU machine that has torch (with CUDA) and numpy but maybe none of
this project's other packages (no sklearn, pydantic, bentoml) and no network::

    python bench/gpu_train.py --save-data runs/digits.npz      # here: sklearn's digits
    python bench/gpu_train.py --data runs/digits.npz           # there: CUDA and CPU

It first tries this project's trainer (``training.frameworks.pytorch.trainer.fit`` with
``training.device``, the configs/digits.yaml network); when that cannot be imported it
falls back to a self-contained torch loop with the same CNN (conv 3x3 + batch norm + ReLU
+ max-pool per block, dropout, an MLP head), standardised pixels, AdamW and
cross-entropy. The output says which path ran, the GPU's name and prints a Markdown
table with a conclusion computed from the figures. Both devices train a fixed number of
epochs (no early stopping) on the same seeded split, so the times compare like for like;
CUDA's start-up (context, first kernels) is spent in a warm-up outside the timing.

``section()`` does the same from sklearn's digits for ``make bench`` (the CUDA row says
why it is missing on a machine without a GPU).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: bench/ first on sys.path would shadow the
    # standard library's http with bench/http.py (torch imports it), so drop it
    HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse
import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
CHANNELS, HIDDEN, DROPOUT = [32, 64], [64], 0.2  # configs/digits.yaml's network
LEARNING_RATE, BATCH, SEED, EPOCHS = 0.002, 64, 42, 20
SHARES = (0.7, 0.15)  # train and validation shares of the rows; the rest is the test split


@dataclass
class Run:
    device: str
    path: str
    """'trainsmart' (the project's trainer) or 'standalone' (the loop in this file)."""
    epochs: int
    seconds: float
    accuracy: float


def save_data(path: Path) -> Path:
    """Write sklearn's digits as ``x`` [n, 64] float32 pixels and ``y`` [n] int64 labels."""
    from sklearn.datasets import load_digits  # lazy: only this mode needs scikit-learn

    digits = load_digits()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x=digits.data.astype(np.float32), y=digits.target.astype(np.int64))
    return path


def load_data(path: Path, rows: int | None = None) -> dict[str, np.ndarray]:
    """The npz's arrays split (seeded) into train, validation and test."""
    with np.load(path) as data:
        x, y = data["x"].astype(np.float32), data["y"].astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))[:rows]
    x, y = x[order], y[order]
    a, b = int(SHARES[0] * len(x)), int((SHARES[0] + SHARES[1]) * len(x))
    return {"x_train": x[:a], "y_train": y[:a], "x_val": x[a:b], "y_val": y[a:b],
            "x_test": x[b:], "y_test": y[b:]}  # fmt: skip


def _project_trainer() -> Any:
    """This project's trainer, or None where its packages cannot be imported."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        # lazy: optional; the GPU machine may lack pydantic and the rest of our packages
        from training.frameworks.pytorch import trainer
        from training.preprocess import Preprocessor  # lazy: as above
        from training.settings import TrainingSettings  # lazy: as above
        from trainsmart.registry.contract import FeatureSpec, InputContract  # lazy: as above
    except ImportError as exc:
        print(f"project trainer not importable ({exc}); using the standalone loop")
        return None
    return trainer, Preprocessor, TrainingSettings, FeatureSpec, InputContract


def train_trainsmart(data: dict[str, np.ndarray], device: str, epochs: int) -> tuple[float, Any]:
    """(seconds, test accuracy) with ``training.frameworks.pytorch.trainer.fit``."""
    trainer, preprocessor, settings_class, spec, contract_class = _project_trainer()
    classes = [str(c) for c in range(int(data["y_train"].max()) + 1)]
    features = [spec(name=f"pixel_{i}", kind="numeric") for i in range(data["x_train"].shape[1])]
    contract = contract_class(features=features, classes=classes, image_shape=[1, 8, 8])
    settings = settings_class(
        architecture="cnn", conv_channels=CHANNELS, hidden_sizes=HIDDEN, dropout=DROPOUT,
        learning_rate=LEARNING_RATE, batch_size=BATCH, max_epochs=epochs, patience=epochs,
        seed=SEED, device=device,
    )  # fmt: skip
    pre = preprocessor.fit(data["x_train"], contract)
    started = _now(device)
    result = trainer.fit(
        data["x_train"], data["y_train"], data["x_val"], data["y_val"], pre, contract, settings,
        progress=False,
    )  # fmt: skip
    seconds = _now(device) - started
    with torch.no_grad():
        proba = result.model.predict_proba(torch.from_numpy(data["x_test"]))
    return seconds, float((proba.argmax(1).numpy() == data["y_test"]).mean())


class CNN(nn.Module):
    """The digits CNN, standalone: standardise, conv blocks, dropout, MLP head."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: np.ndarray, std: np.ndarray, n_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("std", torch.from_numpy(std.astype(np.float32)))
        blocks: list[nn.Module] = []
        channels, side = 1, 8
        for out in CHANNELS:
            blocks += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            blocks.append(nn.MaxPool2d(2))
            channels, side = out, side // 2
        self.features = nn.Sequential(*blocks)
        head: list[nn.Module] = [nn.Dropout(DROPOUT)]
        width = channels * side * side
        for size in HIDDEN:
            head += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(DROPOUT)]
            width = size
        self.head = nn.Sequential(*head, nn.Linear(width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = ((x - self.mean) / self.std).reshape(len(x), 1, 8, 8)
        out: torch.Tensor = self.head(torch.flatten(self.features(x), 1))
        return out


def train_standalone(data: dict[str, np.ndarray], device: str, epochs: int) -> tuple[float, Any]:
    """(seconds, test accuracy) with the self-contained loop (best validation epoch kept)."""
    target = torch.device(device)
    torch.manual_seed(SEED)
    x, n_classes = data["x_train"], int(data["y_train"].max()) + 1
    model = CNN(x.mean(axis=0), x.std(axis=0) + 1e-6, n_classes)
    started = _now(device)
    model.to(target)
    xt, yt = (torch.from_numpy(data[k]).to(target) for k in ("x_train", "y_train"))
    xv, yv = (torch.from_numpy(data[k]).to(target) for k in ("x_val", "y_val"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(SEED)
    best, best_state = float("inf"), copy.deepcopy(model.state_dict())
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=generator).to(target)
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xt[batch]), yt[batch])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val = float(nn.functional.cross_entropy(model(xv), yv))
        if val < best:
            best, best_state = val, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    seconds = _now(device) - started
    model.to("cpu").eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(data["x_test"])).argmax(1).numpy()
    return seconds, float((predicted == data["y_test"]).mean())


def _now(device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def warm_up_cuda() -> None:
    """Create the CUDA context and load the conv/matmul kernels (not timed)."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(256, 2)).cuda()
    model(torch.zeros(2, 1, 8, 8, device="cuda")).sum().backward()
    torch.cuda.synchronize()


def measure(
    data: dict[str, np.ndarray], devices: list[str], epochs: int, path: str = "auto"
) -> tuple[list[Run], list[str]]:
    """One run per available device; notes say which path ran and why a device is missing."""
    notes: list[str] = []
    use = path
    if path == "auto":
        use = "trainsmart" if _project_trainer() is not None else "standalone"
    train = train_trainsmart if use == "trainsmart" else train_standalone
    what = {
        "trainsmart": "this project's trainer, training.device",
        "standalone": "the self-contained loop in bench/gpu_train.py, same CNN",
    }[use]
    notes.append(f"Path: **{use}** ({what}); torch {torch.__version__}.")
    runs: list[Run] = []
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            notes.append("CUDA: not measured, torch.cuda.is_available() is False here.")
            continue
        if device == "cuda":
            notes.append(f"GPU: {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}).")
            warm_up_cuda()
        seconds, accuracy = train(data, device, epochs)
        runs.append(Run(device, use, epochs, seconds, accuracy))
    return runs, notes


def markdown(runs: list[Run], notes: list[str], rows: dict[str, int]) -> list[str]:
    lines = [
        "## 11. Training the digits CNN: CUDA against the CPU",
        "",
        f"configs/digits.yaml's CNN (conv {CHANNELS}, head {HIDDEN}), batch {BATCH}, "
        f"{runs[0].epochs if runs else EPOCHS} epochs without early stopping; rows: "
        f"{', '.join(f'{k} {v}' for k, v in rows.items())}.",
        "",
        *notes,
        "",
        "| device | path | epochs | train s | s per epoch | test accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.device} | {run.path} | {run.epochs} | {run.seconds:.2f} | "
            f"{run.seconds / run.epochs:.3f} | {run.accuracy:.4f} |"
        )
    lines += ["", conclusion(runs)]
    return lines


def conclusion(runs: list[Run]) -> str:
    by = {run.device: run for run in runs}
    if "cuda" not in by or "cpu" not in by:
        return "Only one device measured: no comparison."
    cpu, cuda = by["cpu"], by["cuda"]
    ratio = cpu.seconds / cuda.seconds
    points = 100 * (cuda.accuracy - cpu.accuracy)
    faster = f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"
    why = (
        "the GPU pays off even for this small network"
        if ratio >= 1.5
        else "this network's batches are too small to keep a GPU busy (kernel launches "
        "dominate); CUDA pays off for larger models or batches"
    )
    return (
        f"CUDA trained {faster} than the CPU ({cuda.seconds:.2f} s against {cpu.seconds:.2f} "
        f"s); test accuracy differs by {points:+.2f} points (same seed, split and epochs; "
        f"CUDA's kernels and dropout masks differ): {why}."
    )


def section(workdir: Path | None = None, epochs: int = EPOCHS) -> list[str]:
    """Markdown lines for ``make bench``: sklearn's digits, CPU and (where there) CUDA."""
    folder = workdir or ROOT / "runs"
    data = load_data(save_data(folder / "gpu_train_digits.npz"))
    runs, notes = measure(data, ["cpu", "cuda"], epochs)
    return markdown(runs, notes, _rows(data))


def _rows(data: dict[str, np.ndarray]) -> dict[str, int]:
    return {k.removeprefix("y_"): len(v) for k, v in data.items() if k.startswith("y_")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="digits .npz (x, y) written by --save-data")
    parser.add_argument("--save-data", type=Path, help="write sklearn's digits to this .npz")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--rows", type=int, default=None, help="use only this many rows")
    parser.add_argument("--devices", default="cuda,cpu", help="comma-separated: cuda,cpu")
    parser.add_argument("--path", choices=["auto", "trainsmart", "standalone"], default="auto")
    args = parser.parse_args(argv)
    if args.save_data:
        print(f"wrote {save_data(args.save_data)}")
        return 0
    if args.data is None:
        parser.error("give --data FILE.npz (write one with --save-data FILE.npz)")
    data = load_data(args.data, args.rows)
    runs, notes = measure(data, args.devices.split(","), args.epochs, args.path)
    print("\n".join(markdown(runs, notes, _rows(data))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
