"""Import costs: the light modules never import torch, and nothing imports TensorFlow until
a Keras model is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_light_modules_do_not_import_torch() -> None:
    code = (
        "import sys, training, training.settings, training.data, training.encoding, "
        "training.metrics; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_packages_do_not_import_tensorflow() -> None:
    code = (
        "import sys, training.pipeline, training.staging, training.frameworks, "
        "training.frameworks.keras.models, training.frameworks.keras.trainer, "
        "training.frameworks.keras.export, apps.cli.main, serving.runtime; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
        "'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path.cwd())
