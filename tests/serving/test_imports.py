"""The serving process must not import torch, tensorflow, evidently, mlflow or tensorboard."""

from __future__ import annotations

import json
import subprocess
import sys


def test_service_module_imports_no_training_or_monitoring_frameworks() -> None:
    code = (
        "import sys, json, serving.service; "
        "print(json.dumps(sorted(m for m in ('torch', 'tensorflow', 'keras', 'evidently',"
        " 'sklearn', 'mlflow', 'tensorboard') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
