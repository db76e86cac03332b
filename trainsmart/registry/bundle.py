"""What a registered version holds, and how it is read back and verified.

A bundle is a folder in the BentoML model store::

    model.onnx        the variant that serving loads (preprocessing folded in)
    variants/fp32.onnx  the optimised fp32 reference (other variants are measured, not kept)
    contract.json     InputContract: features, dtypes, categories, ranges, classes
    metrics.json      test metrics per variant
    reference.parquet bounded sample of training inputs (the drift reference)
    lineage.json      dataset fingerprint, parent version, hyperparameters, code version
    calibration.json  classifiers: probability calibration fitted on the validation split
                      (optional: older bundles lack it; registry/calibration.py)
    report/report.md  the version's report, with curves.png and confusion.png beside it
    checksums.json    sha256 of every file above, verified at load
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from trainsmart.errors import RegistryError
from trainsmart.registry.contract import InputContract

if TYPE_CHECKING:
    import pandas as pd

MODEL_FILE = "model.onnx"
CONTRACT_FILE = "contract.json"
METRICS_FILE = "metrics.json"
REFERENCE_FILE = "reference.parquet"
LINEAGE_FILE = "lineage.json"
CHECKSUMS_FILE = "checksums.json"
REPORT_MARKDOWN = "report/report.md"
CALIBRATION_FILE = "calibration.json"
"""Optional (not in REQUIRED_FILES): checksummed, copied and exported like every file."""
REQUIRED_FILES = (MODEL_FILE, CONTRACT_FILE, METRICS_FILE, REFERENCE_FILE, LINEAGE_FILE)


class Lineage(BaseModel):
    """Where a version came from."""

    dataset_fingerprint: str
    """sha256 of the training rows (features and target, canonical CSV)."""
    parent_version: str | None = None
    """The production version a retrained challenger replaced (None for a first train)."""
    hyperparameters: dict[str, Any] = {}
    code_version: str = ""
    """trainsmart version and git commit of the code that trained it."""
    trigger: str = "manual"
    """'manual' for `trainsmart train`, 'retrain' for a retrain job."""
    job_id: int | None = None
    rows: dict[str, int] = {}
    """Rows per split (train, validation, test, recent labelled, ...)."""
    framework: str = "torch"
    serving_variant: str = "fp32"
    """Which variant model.onnx is (fp32, int8_static_minmax, pruned_fp32, ...; see
    metrics.json "variants")."""
    tuning: dict[str, Any] = {}
    """The tuning study the hyperparameters came from (empty when not tuned): study,
    metric, best_value, best_params, n_trials, n_complete, n_pruned."""
    ensemble: dict[str, Any] = {}
    """A k-fold ensemble (``trainsmart train --cv K --ensemble``; empty for one model):
    folds, combine (mean of probabilities or values), fold_best_epochs, fold_metrics."""
    tracking: dict[str, str] = {}
    """The experiment-tracking run that trained it (empty when untracked, and in versions
    registered before tracking): mlflow_run_id, mlflow_experiment_id, mlflow_uri (password
    hidden), tensorboard_run (the run's event folder); see training.tracking."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksums(folder: Path) -> dict[str, str]:
    """Record the sha256 of every file in ``folder`` (except the checksum file itself)."""
    sums = {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != CHECKSUMS_FILE and not p.name.startswith("model.yaml")
    }
    (folder / CHECKSUMS_FILE).write_text(json.dumps(sums, indent=2, sort_keys=True))
    return sums


class Bundle:
    """A registered, immutable version: read its files, verify its checksums."""

    def __init__(self, name: str, version: str, path: Path) -> None:
        self.name = name
        self.version = version
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Bundle({self.name}:{self.version} at {self.path})"

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def report_path(self) -> Path:
        """The report's Markdown (absent from versions registered before reports)."""
        return self.path / REPORT_MARKDOWN

    def _json(self, filename: str) -> Any:
        try:
            return json.loads((self.path / filename).read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(
                f"bundle {self.name}:{self.version} has an unreadable {filename} ({exc}); "
                "register the version again"
            ) from exc

    def contract(self) -> InputContract:
        return InputContract.model_validate(self._json(CONTRACT_FILE))

    def metrics(self) -> dict[str, dict[str, float]]:
        data: dict[str, dict[str, float]] = self._json(METRICS_FILE)
        return data

    def lineage(self) -> Lineage:
        return Lineage.model_validate(self._json(LINEAGE_FILE))

    def reference(self) -> pd.DataFrame:
        """The drift reference sample (raw feature values, one column per feature)."""
        # lazy: pandas only where the reference sample is read (not in the service)
        import pandas as pd

        return pd.read_parquet(self.path / REFERENCE_FILE)

    def verify(self) -> None:
        """Raise RegistryError if a file is missing or differs from its recorded checksum."""
        recorded: dict[str, str] = self._json(CHECKSUMS_FILE)
        for required in REQUIRED_FILES:
            if required not in recorded:
                raise RegistryError(
                    f"bundle {self.name}:{self.version} lacks {required}; it cannot be served"
                )
        for rel, expected in recorded.items():
            file = self.path / rel
            if not file.is_file():
                raise RegistryError(f"bundle {self.name}:{self.version}: {rel} is missing")
            if sha256_file(file) != expected:
                raise RegistryError(
                    f"bundle {self.name}:{self.version}: {rel} does not match its checksum "
                    "(corrupt or modified); the version cannot be served"
                )
