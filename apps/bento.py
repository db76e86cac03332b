"""``trainsmart bento``: a Bento of the service with the production model inside.

``trainsmart bento`` runs ``bentoml build`` with ``bentofile.yaml`` plus the
production version of ``model_name`` (``models: [NAME:VERSION]``) and two
environment variables that tell the service which model it carries. BentoML's
store for the build is the data directory itself (its ``models/`` folder *is* a
BentoML model store), so the Bento lands in ``<data_dir>/bentos/``.

When the Bento starts, ``trainsmart.registry.bento.seed_from_bento`` imports the
carried model and promotes it on a data directory with no production version.

Example::

    tag = build_bento(settings, registry)              # "trainsmart:fair-affairs-v3"
    # BENTOML_HOME=.trainsmart bentoml serve trainsmart:fair-affairs-v3
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from apps.settings import Settings
from trainsmart.errors import ConfigError, RegistryError
from trainsmart.registry import Registry
from trainsmart.registry.bento import BENTO_MODEL_ENV

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def bento_spec(base: dict[str, Any], name: str, version: str) -> dict[str, Any]:
    """``bentofile.yaml`` with the model and the environment that names it."""
    spec = dict(base)
    spec["models"] = [f"{name}:{version}"]
    envs = [e for e in spec.get("envs", []) if e.get("name") not in (BENTO_MODEL_ENV,)]
    envs += [
        {"name": BENTO_MODEL_ENV, "value": f"{name}:{version}"},
        {"name": "TRAINSMART_MODEL_NAME", "value": name},
    ]
    spec["envs"] = envs
    return spec


def build_bento(settings: Settings, registry: Registry, version: str | None = None) -> str:
    """Build the Bento (production version by default); return its tag."""
    name = settings.model_name
    version = version or registry.production(name)
    if version is None:
        raise RegistryError(
            f"{name} has no production version to put in a Bento; promote one or pass --version"
        )
    registry.get(name, version).verify()
    bentofile = PROJECT_ROOT / "bentofile.yaml"
    if not bentofile.is_file():
        raise ConfigError(
            f"{bentofile} is missing; `trainsmart bento` builds from a source checkout"
        )
    spec = bento_spec(yaml.safe_load(bentofile.read_text()), name, version)
    tag_version = f"{name}-{version}"
    env = {
        **os.environ,
        "BENTOML_HOME": str(registry.store_path.parent.resolve()),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    if registry.store_path.name != "models":
        raise ConfigError(
            f"the model store {registry.store_path} must be a folder named 'models' (BentoML's "
            "layout) to build a Bento from it"
        )
    with tempfile.TemporaryDirectory(prefix="trainsmart-bento-") as tmp:
        spec_path = Path(tmp) / "bentofile.yaml"
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        command = [
            str(Path(sys.executable).parent / "bentoml"),
            "build",
            str(PROJECT_ROOT),
            "-f",
            str(spec_path),
            "--version",
            tag_version,
            "-o",
            "tag",
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RegistryError(
            f"bentoml build failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    tag = f"trainsmart:{tag_version}"
    logger.info("built Bento %s with %s:%s", tag, name, version)
    return tag
