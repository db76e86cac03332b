"""The shape of a settings schema: what a key path leads to, how a pydantic error reads in
terms of the file's keys, the closest valid key to a misspelt one.

Everything here takes the schema (a pydantic model class) as an argument; nothing knows
the stages' sections but their names, :data:`SECTIONS`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from trainsmart.errors import ConfigError

SECTIONS = frozenset({"data", "training", "serving", "monitoring"})
"""The top-level sections of ``trainsmart.yaml``, each owned by a stage."""


def describe(
    error: ValidationError,
    schema: type[BaseModel] | None = None,
    origins: Mapping[tuple[str, ...], str] | None = None,
) -> str:
    """One line for every problem of ``error``, joined by ``; ``: the key path, what is
    wrong, the closest valid key (when ``schema`` is given), where the key came from."""
    origins = origins or {}
    problems: dict[str, tuple[list[str], str]] = {}
    for item in error.errors():
        loc = tuple(item["loc"])
        if item["type"] in ("extra_forbidden", "invalid_key") and loc:
            parent = key_path(schema, loc[:-1])
            key = join(parent) + ("." if parent else "") + str(loc[-1])
            message = "unknown setting" if item["type"] == "extra_forbidden" else item["msg"]
            if item["type"] == "extra_forbidden" and schema is not None:
                message += hint(schema, parent, str(loc[-1]))
        else:
            key = join(key_path(schema, loc))
            message = str(item["msg"]).removeprefix("Value error, ")
        origin = origin_of(origins, tuple(str(part) for part in loc))
        # a value that fits no member of a union has one error per member: one line
        messages, _ = problems.setdefault(key, ([], origin))
        if message not in messages:
            messages.append(message)
    return "; ".join(
        f"{key or '(settings)'}: {' / '.join(messages)}" + (f" [{origin}]" if origin else "")
        for key, (messages, origin) in problems.items()
    )


def field_type(schema: type[BaseModel], path: tuple[str, ...], origin: str) -> Any:
    """The annotation at ``path`` (None inside a free-form value), or a ConfigError naming
    the closest valid key."""
    model: type[BaseModel] | None = schema
    annotation: Any = None
    for depth, part in enumerate(path):
        if model is None:
            return None  # inside a mapping or list: pydantic checks the value
        if depth == 0 and part in SECTIONS and part not in model.model_fields:
            return None  # another stage's section
        if part not in model.model_fields:
            near = hint(schema, path[:depth], part)
            raise ConfigError(f"{'.'.join(path)}: unknown setting{near} [{origin}]")
        annotation = model.model_fields[part].annotation
        model = model_of(annotation)
    return annotation


def unwrap(annotation: Any) -> Any:
    """``X`` of ``Annotated[X, ...]``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def members(annotation: Any) -> tuple[Any, ...]:
    """The non-None types ``annotation`` allows (itself, or the members of a union)."""
    annotation = unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(unwrap(a) for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The section (pydantic model) ``annotation`` holds, if it holds one."""
    for candidate in members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def structured(annotation: Any) -> bool:
    """Whether a value of ``annotation`` is a list, mapping or section (JSON in a variable)."""
    for candidate in members(annotation):
        origin = typing.get_origin(candidate) or candidate
        if isinstance(origin, type) and issubclass(origin, (BaseModel, list, dict, tuple, set)):
            return True
    return False


def literal_value(annotation: Any, raw: str) -> Any:
    """``raw`` as the number or boolean a ``Literal`` of numbers expects (``"3"`` -> 3 for
    ``Literal[1, 3]``); otherwise ``raw`` as it is."""
    for candidate in members(annotation):
        if typing.get_origin(candidate) is typing.Literal:
            for allowed in typing.get_args(candidate):
                if not isinstance(allowed, str) and raw.strip().lower() == str(allowed).lower():
                    return allowed
    return raw


def child(annotation: Any, part: Any) -> tuple[bool, Any]:
    """Whether ``part`` (a field, a mapping key, a list index) is a step into
    ``annotation``, and the annotation it leads to."""
    model = model_of(annotation)
    if model is not None:
        field = model.model_fields.get(str(part))
        return (True, field.annotation) if field is not None else (False, None)
    for candidate in members(annotation):
        origin = typing.get_origin(candidate)
        args = typing.get_args(candidate)
        if origin is dict and isinstance(part, str):
            return True, args[1] if len(args) == 2 else Any
        if origin in (list, tuple, set, frozenset) and isinstance(part, int):
            return True, args[0] if args else Any
    return False, None


def key_path(schema: type[BaseModel] | None, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` of a pydantic error without what pydantic adds to it (the member of a union
    it tried: ``low.int``)."""
    if schema is None:
        return loc
    annotation: Any = schema
    for depth, part in enumerate(loc):
        step, annotation = child(annotation, part)
        if not step:
            return loc[:depth]
    return loc


def join(path: tuple[Any, ...]) -> str:
    """``data.features[0].name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def hint(schema: type[BaseModel], here: tuple[Any, ...], name: str) -> str:
    """`` (did you mean serving.port?)``: the closest key beside ``name``, else the closest
    setting of that name anywhere (``windw_rows`` at the top: ``monitoring.window_rows``)."""
    annotation: Any = schema
    for part in here:
        annotation = child(annotation, part)[1]
    model = model_of(annotation)
    if model is not None:
        near = difflib.get_close_matches(name, list(model.model_fields), n=1)
        if near:
            return f" (did you mean {join((*here, near[0]))}?)"
    everywhere = {path[-1]: path for path in reversed(list(paths(schema)))}
    near = difflib.get_close_matches(name, list(everywhere), n=1)
    if near and everywhere[near[0]] != (*here, near[0]):
        return f" (did you mean {join(everywhere[near[0]])}?)"
    return ""


def paths(model: type[BaseModel], at: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of ``model``, sections before their keys."""
    for name, field in model.model_fields.items():
        yield (*at, name)
        inner = model_of(field.annotation)
        if inner is not None:
            yield from paths(inner, (*at, name))


def origin_of(origins: Mapping[tuple[str, ...], str], loc: tuple[str, ...]) -> str:
    """Where the key at ``loc``, or the nearest section around it, came from ("" if unknown)."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    return ""
