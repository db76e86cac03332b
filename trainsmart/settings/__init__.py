"""Settings: the shared keys (:class:`CoreSettings`) and the strict loader.

Each stage's section lives with its stage (``serving/settings.py``, ...) and is built on
:class:`Section`; ``apps/settings.py`` composes the whole file's schema.
"""

from trainsmart.settings.core import CoreSettings, Paths, Section
from trainsmart.settings.loading import (
    CONFIG_ENV,
    SECRETS_ENV,
    child_environment,
    describe,
    load,
    resolve_config_path,
)

__all__ = [
    "CONFIG_ENV",
    "SECRETS_ENV",
    "CoreSettings",
    "Paths",
    "Section",
    "child_environment",
    "describe",
    "load",
    "resolve_config_path",
]
