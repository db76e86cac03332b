"""Read settings from their sources, refusing whatever they do not understand.

Precedence, highest first: keyword overrides, ``TRAINSMART_*`` environment variables
(``TRAINSMART_SERVING__PORT=3001``; ``__`` separates nested keys), files in the secrets
directory (``TRAINSMART_SECRETS_DIR``: one file per setting, named like its variable,
``TRAINSMART_DATABASE_URL`` or ``database_url``, ``serving__admin_token``, as a mounted
Kubernetes Secret or ``/run/secrets`` gives them; hidden entries such as a Secret
volume's ``..data`` are skipped), the YAML file (``--config``, else ``$TRAINSMART_CONFIG``,
else ``./trainsmart.yaml`` when present), built-in defaults. A variable or file value of
a setting that holds a list, mapping or section is read as JSON.

A key that names no setting is an error at every level and from every source; so is a
``TRAINSMART_`` variable that names no setting (apart from :data:`OTHER_VARIABLES`) and a
file in the secrets directory that names none. Every problem found is reported at once,
in a :class:`~trainsmart.errors.ConfigError` of one line (problems separated by ``; ``),
each naming the key path, what is wrong, the closest valid key and where the key came
from::

    serving.prot: unknown setting (did you mean serving.port?) [trainsmart.yaml]

A process that reads only some sections (the service reads ``serving``) loads a schema
without the others: their keys are skipped, and checked by the processes that own them.

The sources are read by :mod:`trainsmart.settings.sources`; what a key path means in a
schema, and how an error is told, is :mod:`trainsmart.settings.shape`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from trainsmart.errors import ConfigError
from trainsmart.settings.core import CoreSettings
from trainsmart.settings.shape import SECTIONS, describe
from trainsmart.settings.sources import (
    PREFIX,
    SECRETS_ENV,
    nested,
    read_secrets,
    read_yaml,
    secret_file,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "OTHER_VARIABLES",
    "PREFIX",
    "SECRETS_ENV",
    "SECTIONS",
    "child_environment",
    "describe",
    "load",
    "resolve_config_path",
]

CONFIG_ENV = "TRAINSMART_CONFIG"
DEFAULT_CONFIG_FILE = "trainsmart.yaml"
OTHER_VARIABLES = frozenset(
    {
        CONFIG_ENV,
        SECRETS_ENV,
        "TRAINSMART_ACTOR",  # who is acting, in the audit log (trainsmart.state.audit)
        "TRAINSMART_BENTO_MODEL",  # the model a Bento carries (trainsmart.registry.bento)
        "TRAINSMART_WEBHOOK_TOKEN",  # docker-compose.yml's input, passed on as a setting
        # the test and benchmark harness (tests/, Makefile)
        "TRAINSMART_TEST_DATABASE",
        "TRAINSMART_REQUIRE_SERVICES",
        "TRAINSMART_FUZZ_EXAMPLES",
        "TRAINSMART_RELIABILITY_OUT",
        "TRAINSMART_BOARD_PNG",
        "TRAINSMART_BOARD_PACE_S",
    }
)
"""``TRAINSMART_`` variables that are not settings."""

S = TypeVar("S", bound=CoreSettings)


SERVICE_LINK = re.compile(
    r"^[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_\d+_(TCP|UDP|SCTP)(_[A-Z]+)?)$"
)
"""The variables Kubernetes puts in every pod for each Service of its namespace
(``TRAINSMART_SERVICE_HOST``, ``TRAINSMART_PORT_3000_TCP_ADDR``, ...) unless the pod sets
``enableServiceLinks: false``: never settings, and no setting ends this way."""


def service_link(name: str) -> bool:
    """Whether ``name`` is a Kubernetes service-link variable (see :data:`SERVICE_LINK`);
    a name with ``__`` names a nested setting (``TRAINSMART_SERVING__PORT``), never a link."""
    return "__" not in name and SERVICE_LINK.match(name) is not None


def resolve_config_path(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The settings file in use: the argument, ``$TRAINSMART_CONFIG`` or ``./trainsmart.yaml``."""
    environ = os.environ if environ is None else environ
    chosen = path or environ.get(CONFIG_ENV)
    if chosen:
        resolved = Path(chosen).expanduser().resolve()
        if not resolved.is_file():
            what = "is not a file" if resolved.exists() else "does not exist"
            source = "" if path else f" (from {CONFIG_ENV})"
            raise ConfigError(
                f"settings file {resolved}{source} {what}; pass an existing YAML file"
            )
        return resolved
    default = Path(DEFAULT_CONFIG_FILE)
    return default.resolve() if default.is_file() else None


def load(
    schema: type[S],
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> S:
    """``schema`` read from the YAML file, the secrets directory, the environment and
    ``overrides``; a :class:`ConfigError` naming every key it does not understand."""
    environ = os.environ if environ is None else environ
    config = resolve_config_path(path, environ)
    merged: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    problems: list[str] = []
    if config is not None:
        _merge(merged, read_yaml(config), origins, config.name)
    secrets = environ.get(SECRETS_ENV)
    if secrets:
        for name, value, origin in read_secrets(Path(secrets)):
            _merge(merged, nested(schema, name, value, origin, problems), origins, origin)
    for name, value in sorted(environ.items()):
        upper = name.upper()
        if upper.startswith(PREFIX) and upper not in OTHER_VARIABLES and not service_link(upper):
            keys = nested(schema, name[len(PREFIX) :], value, name, problems)
            _merge(merged, keys, origins, name)
    _merge(merged, overrides, origins, "arguments")
    for section in SECTIONS - set(schema.model_fields):
        merged.pop(section, None)  # another stage's section: its own process checks it
    for section in SECTIONS & set(schema.model_fields):
        if section in merged and merged[section] is None:
            merged[section] = {}  # `serving:` with every key commented out
    settings: S | None = None
    try:
        settings = schema.model_validate(merged)
    except ValidationError as exc:
        problems.append(describe(exc, schema, origins))
    if problems or settings is None:
        raise ConfigError("; ".join(problems))
    settings._config_file = config
    return settings


def child_environment(
    settings: CoreSettings, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """This process's environment plus what makes a child process load the same settings.

    The database URL is passed as a variable only when the child would not read the same
    one from the secrets directory: a secret kept out of the environment stays out."""
    env = dict(os.environ)
    if settings.config_file is not None:
        env[CONFIG_ENV] = str(settings.config_file)
    env["TRAINSMART_DATA_DIR"] = str(settings.data_dir)
    env["TRAINSMART_MODEL_NAME"] = settings.model_name
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        variable = f"{PREFIX}DATABASE_URL"
        if variable in env or secret_file(env, "DATABASE_URL") != url:
            env[variable] = url
    if settings.model_store is not None:
        env["TRAINSMART_MODEL_STORE"] = str(settings.model_store)
    env.update(extra or {})
    return env


def _merge(
    into: dict[str, Any],
    new: Mapping[str, Any],
    origins: dict[tuple[str, ...], str],
    origin: str,
    at: tuple[str, ...] = (),
) -> None:
    for key, value in new.items():
        here = (*at, str(key))
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, origins, origin, here)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value
            origins[here] = origin
