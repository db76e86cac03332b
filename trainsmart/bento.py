"""A Bento of the service with the production model inside: build it, and seed from it.

``trainsmart bento`` runs ``bentoml build`` with ``bentofile.yaml`` plus the
production version of ``model_name`` (``models: [NAME:VERSION]``) and two
environment variables that tell the service which model it carries. BentoML's
store for the build is the data directory itself (its ``models/`` folder *is* a
BentoML model store), so the Bento lands in ``<data_dir>/bentos/``.

When the Bento starts (``bentoml serve trainsmart:VERSION``) on a data directory
with no production version, :func:`seed_from_bento` imports the carried model into
the local registry (checksums verified, version kept) and promotes it, audited as
actor ``bento``. A data directory that already has a production version keeps it.

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
from typing import TYPE_CHECKING, Any

import yaml

from trainsmart.errors import ConfigError, RegistryError

if TYPE_CHECKING:
    from trainsmart.registry import Registry
    from trainsmart.settings import Settings

logger = logging.getLogger(__name__)

BENTO_MODEL_ENV = "TRAINSMART_BENTO_MODEL"
"""``NAME:VERSION`` of the model a Bento carries (set in the Bento's envs)."""
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


def carried_model(bento_yaml: Path | None = None) -> str:
    """``NAME:VERSION`` this Bento carries: ``$TRAINSMART_BENTO_MODEL`` (set in containers
    built from the Bento), else the same variable in the ``bento.yaml`` beside the Bento's
    ``src/`` folder (``bentoml serve TAG`` runs from ``src/`` without the Bento's envs);
    '' outside a Bento."""
    tag = os.environ.get(BENTO_MODEL_ENV, "")
    if tag:
        return tag
    # the Bento's src/ is the working directory of `bentoml serve TAG` (and may not be where
    # this module was imported from, with an editable install of trainsmart)
    places = [bento_yaml] if bento_yaml else [Path.cwd().parent, PROJECT_ROOT.parent]
    path = next((p / "bento.yaml" if p.is_dir() else p for p in places if _is_bento(p)), None)
    if path is None:
        return ""
    try:
        envs = (yaml.safe_load(path.read_text()) or {}).get("envs") or []
    except (OSError, yaml.YAMLError) as exc:
        logger.warning("could not read %s (%s); no carried model", path, exc)
        return ""
    return next((str(e.get("value", "")) for e in envs if e.get("name") == BENTO_MODEL_ENV), "")


def for_bento(settings: Settings) -> Settings:
    """``settings`` with ``model_name`` set to the model this Bento carries (a Bento serves
    its own model, whatever the settings say); unchanged outside a Bento."""
    carried = carried_model().partition(":")[0]
    if not carried or carried == settings.model_name:
        return settings
    logger.info("this Bento carries %s; serving it instead of %s", carried, settings.model_name)
    return settings.model_copy(update={"model_name": carried})


def _is_bento(place: Path) -> bool:
    return (place / "bento.yaml").is_file() if place.is_dir() else place.is_file()


def seed_from_bento(registry: Registry, name: str) -> str | None:
    """Import the model this Bento carries, and promote it when ``name`` has no production
    version yet; return the version promoted (None: not a Bento, or already served)."""
    tag = carried_model()
    if not tag:
        return None
    carried, _, version = tag.partition(":")
    if carried != name or not version:
        logger.warning("%s=%s does not name a version of %s; ignored", BENTO_MODEL_ENV, tag, name)
        return None
    import bentoml

    # imported even when production is set: on shared state (PostgreSQL) the pointer may
    # name this version while this replica's own model store does not hold it yet
    registry.import_version(name, version, Path(bentoml.models.get(tag).path))
    if registry.production(name) is not None:
        return None
    try:
        registry.promote(
            name, version, actor="bento", reason=f"the model built into this Bento ({tag})"
        )
    except RegistryError:  # another replica of this Bento promoted it first
        return None
    logger.info("promoted %s:%s, the model carried by this Bento", name, version)
    return version
