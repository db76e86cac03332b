"""Bearer tokens for HTTP endpoints: the service's API keys and admin token.

Two checks:

- ``check_api_key``: ``serving.api_keys``. When the list is non-empty, a request needs
  ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` with one of the keys; when it is
  empty the routes are open. A plain call made by the prediction endpoints (on the hot
  path); ``API_KEY_SCHEMES`` and ``API_KEY_SECURITY`` document it in ``/openapi.json``.
- ``admin_guard``: ``serving.admin_token``, as ``Authorization: Bearer TOKEN`` only, a
  FastAPI dependency that declares its scheme. When no token is set the admin routes
  are disabled: 403 for everyone.

Every refusal is the same ``401 {"error": "unauthorized"}`` with ``WWW-Authenticate:
Bearer``: the caller is not told whether the header was missing, malformed or wrong.
Tokens are ``SecretStr`` (masked in ``repr``, in ``trainsmart settings`` and in any
dump), compared with ``hmac.compare_digest`` against every configured key (the time
taken does not reveal which key or how many characters matched), and never logged.
The plain functions (``bearer_token``, ``token_matches``) hold no FastAPI state, so
other servers (the monitor) can reuse them.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from trainsmart.errors import Forbidden, Unauthorized

ADMIN_DISABLED = "admin endpoints are disabled; set serving.admin_token"

API_KEY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKeyBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "One of `serving.api_keys` as `Authorization: Bearer KEY`; needed "
        "only when api_keys is set.",
    },
    "ApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "One of `serving.api_keys` as `X-API-Key: KEY`; needed only when "
        "api_keys is set.",
    },
}
"""OpenAPI security schemes of the routes ``check_api_key`` guards."""
API_KEY_SECURITY: list[dict[str, list[str]]] = [
    *({name: list[str]()} for name in API_KEY_SCHEMES),
    {},
]
"""Their OpenAPI requirement: either scheme, or (the empty one) none while no keys are set."""
ADMIN_BEARER = HTTPBearer(
    scheme_name="AdminBearer",
    description="`serving.admin_token` as `Authorization: Bearer TOKEN`. Without an admin "
    "token in the settings the admin endpoints answer 403.",
    auto_error=False,
)

Guard = Callable[..., Awaitable[None]]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (scheme case-insensitive,
    RFC 7235); None for a missing header, another scheme or an empty token."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def token_matches(presented: str | None, tokens: Sequence[SecretStr]) -> bool:
    """Whether ``presented`` equals one of ``tokens``, in time independent of where they
    differ; every token is compared (no early exit on the first match)."""
    if not presented:
        return False
    given = presented.encode("utf-8", "surrogateescape")
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.get_secret_value().encode("utf-8"))
    return matched


def check_api_key(headers: Mapping[str, str], keys: Sequence[SecretStr]) -> None:
    """Let a request through if no keys are configured, or if its headers carry one of
    them (``Authorization: Bearer`` or ``X-API-Key``); else ``Unauthorized`` (401).

    A plain call rather than a FastAPI dependency: it runs on every prediction, and
    FastAPI's dependency resolution costs more than the check itself."""
    if not keys:
        return
    presented = (bearer_token(headers.get("authorization")), headers.get("x-api-key"))
    # evaluate both (no short-circuit) so timing does not tell which header was tried
    results = [token_matches(p, keys) for p in presented]
    if not any(results):
        raise Unauthorized()


def admin_guard(get_token: Callable[[], SecretStr | None]) -> Guard:
    """A dependency for admin routes: 403 while no admin token is configured, 401 unless
    the request carries ``Authorization: Bearer <admin token>``."""

    async def require_admin(
        request: Request,
        _bearer: HTTPAuthorizationCredentials | None = Security(ADMIN_BEARER),
    ) -> None:
        token = get_token()
        if token is None:
            raise Forbidden(ADMIN_DISABLED)
        if not token_matches(bearer_token(request.headers.get("authorization")), [token]):
            raise Unauthorized()

    return require_admin
