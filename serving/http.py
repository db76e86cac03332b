"""HTTP helpers shared by the /predict API and the Open Inference Protocol routes.

Bodies are read and parsed here, not by FastAPI, so every 4xx is ours and has
the one error shape ``{"error": ..., "field": ...}`` (``ErrorResponse``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from serving.settings import ServingSettings
from trainsmart.auth import API_KEY_SCHEMES, API_KEY_SECURITY
from trainsmart.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType, clip


class ErrorResponse(BaseModel):
    error: str
    field: str | None = None


API_KEY_AUTH: dict[str, Any] = {"security": API_KEY_SECURITY}
"""``openapi_extra`` of a route that calls ``trainsmart.auth.check_api_key``: either
API-key scheme, or (the empty requirement) no credentials, as keys are needed only when
``serving.api_keys`` is set. ``document_api_keys`` adds the schemes themselves."""

R = TypeVar("R")
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: paired, two of them spell one character past U+FFFF;
alone, it parses to a string that is no Unicode text (it cannot be logged or answered)."""


def document_api_keys(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document declare the API-key schemes that ``API_KEY_AUTH``
    routes name (FastAPI only declares the schemes of its own security dependencies)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:  # the first call builds and caches the document
            components = build().setdefault("components", {})
            components.setdefault("securitySchemes", {}).update(API_KEY_SCHEMES)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


async def answer(
    settings: ServingSettings,
    request: Request,
    handler: Callable[..., R],
    *args: Any,
    remote_state: bool = False,
) -> R:
    """``handler(*args)`` for ``request`` (whose body was read): on the event loop when the
    body is small and the handler waits on nothing else (no batching, no Redis or
    PostgreSQL round trip: ``remote_state``), else in the thread pool
    (``serving.inline_max_body_bytes``)."""
    size = len(await request.body())  # already read: cached by Starlette
    if (
        size <= settings.inline_max_body_bytes
        and not settings.batching
        and settings.cache_backend != "redis"
        and not remote_state
    ):
        return handler(*args)
    return await run_in_threadpool(handler, *args)


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` that documents ``model`` as the JSON request body."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], body: Any, example: str) -> M:
    """``body`` validated as ``model`` (declare it strict, extra="forbid"); the first
    problem becomes a 400 naming its field, with ``example`` as a valid body."""
    if not isinstance(body, dict):
        raise InvalidInput.for_field("body", f"an object like {example}", body)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "missing":
            problem = "required"
        elif error["type"] == "extra_forbidden":
            problem = f"unknown; the body takes {sorted(model.model_fields)}"
        else:
            problem = (
                f"{error['msg'][0].lower()}{error['msg'][1:]}, got {clip(repr(error['input']))}"
            )
        raise InvalidInput(f"field '{field}': {problem} (e.g. {example})", field=field) from exc


def _too_large(size: int, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"body of {size} bytes is over the {max_bytes}-byte limit "
        "(serving.max_body_bytes); send fewer rows per request",
        field="body",
    )


async def read_json(request: Request, max_bytes: int, *, untyped_ok: bool = False) -> Any:
    """The parsed JSON body, refusing other media types, bodies over ``max_bytes`` and
    strings that are no Unicode text (an unpaired surrogate escape: ``SURROGATE_ESCAPE``).

    ``untyped_ok`` accepts a body sent without a content-type (tritonclient sends none).
    """
    content_type = request.headers.get("content-type", "")
    # the media type before any parameters, case-insensitive (RFC 9110): not application/jsonx
    json_type = content_type.split(";", 1)[0].strip().lower() == "application/json"
    if not json_type and not (untyped_ok and not content_type):
        raise UnsupportedMediaType(
            f"header 'content-type': expected application/json, got {content_type!r}",
            field="content-type",
        )
    encoding = request.headers.get("content-encoding", "identity")
    if encoding != "identity":
        raise UnsupportedMediaType(
            f"header 'content-encoding': expected identity (no compression), got {encoding!r}",
            field="content-encoding",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(int(declared), max_bytes)
    raw = await request.body()
    if len(raw) > max_bytes:
        raise _too_large(len(raw), max_bytes)
    try:
        body = json.loads(raw)
        if SURROGATE_ESCAPE.search(raw):
            json.dumps(body, ensure_ascii=False).encode("utf-8")  # fails on an unpaired one
    except UnicodeEncodeError as exc:
        lone = f"\\u{ord(exc.object[exc.start]):04x}"
        raise InvalidInput(
            f"body: a string holds the unpaired UTF-16 surrogate {lone}, which is no Unicode "
            "text; send the character itself, or both halves of its surrogate pair",
            field="body",
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"body: not valid JSON ({exc})", field="body") from exc
    return body
