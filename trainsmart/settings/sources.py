"""Where settings come from besides the arguments: the YAML file, the secrets directory
(one file per setting) and ``TRAINSMART_*`` variables, each turned into nested keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from trainsmart.errors import ConfigError
from trainsmart.settings.shape import field_type, literal_value, structured

PREFIX = "TRAINSMART_"
"""What every settings variable, and a secret file's name optionally, starts with."""
SECRETS_ENV = "TRAINSMART_SECRETS_DIR"
"""The variable naming the secrets directory."""


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping of settings in the YAML file ``path`` (empty for an empty file)."""
    try:
        with path.open(encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"settings file {path} cannot be read as YAML: {detail}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"settings file {path} must hold a mapping of settings (key: value), "
            f"not a {type(data).__name__}"
        )
    return data


def read_secrets(folder: Path) -> list[tuple[str, str, str]]:
    """``(name, value, file)`` of each file in ``folder``: the name without the prefix."""
    if not folder.is_dir():
        raise ConfigError(f"{SECRETS_ENV}={folder} is not a directory; point it at the secrets")
    found = []
    try:
        for file in sorted(folder.iterdir()):
            # a mounted Kubernetes Secret also holds the hidden ..data link and ..<timestamp>
            # folder that its files link through; editors and tools leave dotfiles
            if file.name.startswith(".") or not file.is_file():
                continue
            name = file.name.upper()
            name = name[len(PREFIX) :] if name.startswith(PREFIX) else name
            found.append((name, file.read_text(encoding="utf-8").strip(), str(file)))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{SECRETS_ENV}: cannot read the secrets in {folder}: {exc}; each file must be "
            "readable text"
        ) from None
    return found


def secret_file(environ: Mapping[str, str], name: str) -> str | None:
    """The value the secrets directory of ``environ`` holds for ``name`` (``DATABASE_URL``),
    or None."""
    folder = environ.get(SECRETS_ENV)
    if not folder:
        return None
    try:
        secrets = read_secrets(Path(folder))
    except ConfigError:
        return None
    return next((value for key, value, _ in secrets if key == name), None)


def nested(
    schema: type[BaseModel], name: str, raw: str, origin: str, problems: list[str]
) -> dict[str, Any]:
    """``{"serving": {"port": "3001"}}`` of ``SERVING__PORT``; a setting that holds a list,
    mapping or section is read as JSON. A name that names no setting adds to ``problems``
    and gives ``{}``."""
    path = tuple(part.lower() for part in name.split("__"))
    if not all(path):
        problems.append(f"{origin}: names no setting ('__' separates nested keys)")
        return {}
    try:
        target = field_type(schema, path, origin)
    except ConfigError as exc:
        problems.append(exc.message)
        return {}
    value: Any = raw
    if target is not None and structured(target):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            # never repeat the value: it may be a list of API keys
            problems.append(
                f"{'.'.join(path)}: expected JSON (a list, mapping or section), which this "
                f"is not ({exc.msg} at character {exc.pos}) [{origin}]"
            )
            return {}
    elif target is not None:
        value = literal_value(target, raw)
    out: dict[str, Any] = {}
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return out
