"""Rules for model names and versions (they become paths and URL segments)."""

from __future__ import annotations

import re

from trainsmart.errors import InvalidInput

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")


def check_name(value: str, field: str = "name") -> str:
    """Return ``value`` if it is a safe model name or version, else raise InvalidInput."""
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise InvalidInput.for_field(
            field,
            "1-64 characters of lowercase letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit",
            value,
        )
    return value
