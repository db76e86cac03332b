"""Seeding from a Bento: the model a Bento carries becomes the production version.

When a Bento starts (``bentoml serve trainsmart:VERSION``) on a data directory with no
production version, :func:`seed_from_bento` imports the carried model into the local
registry (checksums verified, version kept) and promotes it, audited as actor
``bento``. A data directory that already has a production version keeps it. The Bento
is built by ``apps/bento.py`` (``trainsmart bento``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import yaml

from trainsmart.errors import RegistryError
from trainsmart.settings import CoreSettings

if TYPE_CHECKING:
    from trainsmart.registry.store import Registry

logger = logging.getLogger(__name__)

BENTO_MODEL_ENV = "TRAINSMART_BENTO_MODEL"
"""``NAME:VERSION`` of the model a Bento carries (set in the Bento's envs)."""
PROJECT_ROOT = Path(__file__).resolve().parents[2]
S = TypeVar("S", bound=CoreSettings)


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


def for_bento(settings: S) -> S:
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
    # lazy: bentoml's import takes a second; only a Bento needs it
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
