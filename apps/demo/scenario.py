"""The demo's data: two real covariate shifts drawn from the Fair affairs data itself.

First a benign one: young, happy marriages (``yrs_married <= 6`` and ``rate_marriage >=
4``), a population v1 handles well (its accuracy there is higher than on its test split).
Ages, years married, children and the marriage rating all move, so the inputs drift,
but the performance estimated without labels holds and nothing is retrained.

Then the harmful one: long marriages (``yrs_married >= 16.5``, about a quarter of the rows) are
under-represented in v1's training file (5% of them kept). Traffic first
replays held-out rows of the rest of the population, then long-marriage rows
the training file never held: ages, years married and children all move, and
v1, which saw few such couples, gets them wrong more often.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

NUMERIC = ["rate_marriage", "age", "yrs_married", "children", "religious", "educ"]
CATEGORICAL = ["occupation", "occupation_husb"]
TARGET = "had_affair"
SHIFT_DESCRIPTION = "long marriages (yrs_married >= 16.5), 5% of them in v1's training data"
BENIGN_DESCRIPTION = "young, happy marriages (yrs_married <= 6, rate_marriage >= 4)"
BENIGN_ROWS = 500
"""Held-out benign rows (the demo sends two windows of them)."""


@dataclass(frozen=True)
class Scenario:
    train_file: Path
    in_distribution: pd.DataFrame
    """Held-out rows of the majority population (features + target)."""
    shifted: pd.DataFrame
    """Held-out long-marriage rows (features + target)."""
    benign: pd.DataFrame
    """Held-out young, happy marriages (features + target): drift that does not hurt."""

    def rows(self, frame: pd.DataFrame) -> tuple[list[dict[str, Any]], list[str]]:
        features = frame[NUMERIC + CATEGORICAL].astype(float).to_dict(orient="records")
        return features, [str(v) for v in frame[TARGET]]


def build_scenario(folder: Path, seed: int = 7, keep_share: float = 0.05) -> Scenario:
    """Write the training file under ``folder`` and return the traffic pools."""
    # lazy: statsmodels only to draw the demo's data
    import statsmodels.api as sm

    data = sm.datasets.fair.load_pandas().data
    frame = data[NUMERIC + CATEGORICAL].copy()
    frame[TARGET] = (data["affairs"] > 0).astype(int)
    rng = np.random.default_rng(seed)
    shifted_mask = (frame["yrs_married"] >= 16.5).to_numpy()
    shifted_idx = rng.permutation(np.flatnonzero(shifted_mask))
    majority_idx = rng.permutation(np.flatnonzero(~shifted_mask))
    n_keep = int(keep_share * len(shifted_idx))
    n_traffic = 900
    rest = majority_idx[n_traffic:]
    young_happy = ((frame["yrs_married"] <= 6) & (frame["rate_marriage"] >= 4)).to_numpy()
    benign_idx = rest[young_happy[rest]][:BENIGN_ROWS]
    train_idx = np.concatenate([np.setdiff1d(rest, benign_idx), shifted_idx[:n_keep]])
    folder.mkdir(parents=True, exist_ok=True)
    train_file = folder / "train.csv"
    frame.iloc[np.sort(train_idx)].to_csv(train_file, index=False)
    return Scenario(
        train_file=train_file,
        in_distribution=frame.iloc[majority_idx[:n_traffic]].reset_index(drop=True),
        shifted=frame.iloc[shifted_idx[n_keep:]].reset_index(drop=True),
        benign=frame.iloc[benign_idx].reset_index(drop=True),
    )


def write_config(path: Path, scenario: Scenario, data_dir: Path, overrides: dict[str, Any]) -> Path:
    """The demo's settings file: the training file, small windows, a short cooldown."""
    config: dict[str, Any] = {
        "data_dir": str(data_dir),
        "model_name": "fair-affairs",
        "data": {
            "dataset": "file",
            "path": str(scenario.train_file),
            "features": [{"name": n, "kind": "numeric"} for n in NUMERIC]
            + [{"name": n, "kind": "categorical"} for n in CATEGORICAL],
            "target": TARGET,
        },
        "training": {
            "max_epochs": 40,
            "retrain": {"recent_rows": 500, "recent_weight": 5.0, "margin": 0.01},
        },
        "serving": {"reload_interval_s": 1.0},
        "monitoring": {
            "interval_s": 2.0,
            "window_rows": 200,
            "consecutive_windows": 3,
            "cooldown_s": 120.0,
            # retrain only on drift that hurts: dataset drift AND an estimated accuracy
            # (CBPE, no labels) below v1's test accuracy - 0.02, in 3 windows in a row
            "trigger": "both",
            "estimated_windows": 3,
        },
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
