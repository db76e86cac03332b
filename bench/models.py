"""Train and promote the benchmark's models, each in its own data directory."""

from __future__ import annotations

from pathlib import Path

from apps.settings import load_settings
from training.pipeline import TrainOutcome, train_and_register
from trainsmart.registry import Registry
from trainsmart.state import open_database

ROOT = Path(__file__).resolve().parents[1]


def train_model(workdir: Path, name: str, config: str | None = None) -> tuple[Path, TrainOutcome]:
    """Train and promote one model in its own data directory; (settings file, outcome)."""
    base = (ROOT / "configs" / config).read_text() if config else ""
    path = workdir / f"{name}.yaml"
    path.write_text(base + f"\ndata_dir: {workdir / name}\n")
    settings = load_settings(path)
    registry = Registry(settings.paths.model_store, open_database(settings))
    outcome = train_and_register(settings.training_scope(), registry, progress=False)
    registry.promote(settings.model_name, outcome.bundle.version, reason="bench", actor="bench")
    return path, outcome
