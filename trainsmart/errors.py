"""One error tree for the whole project; each class carries its HTTP status.

    TrainsmartError (500)
     +-- InvalidInput (400)         bad request body: names the field and what was expected
     |    +-- PayloadTooLarge (413)
     |    +-- UnsupportedMediaType (415)
     +-- Unauthorized (401)         missing or wrong token; the body never says which
     +-- Forbidden (403)            an endpoint switched off by the settings
     +-- NotFound (404)
     |    +-- ModelNotFound (404)
     |    +-- ModelNotServed (404)   a name this service does not serve
     |    +-- VersionNotLoaded (404) neither the production version nor the candidate
     |    +-- RequestNotFound (404)
     +-- Conflict (409)
     |    +-- RegistryError (409)  bad promote/rollback, invalid bundle
     +-- NotReady (503)            no production model loaded yet
     |    +-- StateUnavailable (503) the state database cannot be written right now
     +-- TrainingError (500)       parity check failed, bad dataset config, ...
     +-- ConfigError (500)         settings that cannot work
     +-- RemoteStorageError (502)  an export/import URL that cannot be reached, read or written

Messages say what went wrong and what to do about it.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

ECHO_LIMIT = 80
"""Most characters of a client's input an error message repeats back."""
FIELD_LIMIT = 200
"""Most characters of a ``field`` path in an error (it may hold a client's key)."""


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters (ending in "..."): errors echo a client's input
    so they can find it, never in full (a 200 KB feature name must not come back)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


_USERINFO = re.compile(r"(?<=://)([^/@\s:]*)(:[^/@\s]*)?@")
_PASSWORD_PARAM = re.compile(r"(?<=[?&]password=)[^&\s]*")


def redact(text: str) -> str:
    """``text`` (a URL, or a message quoting URLs) with their credentials hidden:
    ``user:password@`` becomes ``user:***@``, a bare ``token@`` becomes ``***@`` and
    ``password=...`` becomes ``password=***``."""

    def hide(match: re.Match[str]) -> str:
        return f"{match.group(1)}:***@" if match.group(2) is not None else "***@"

    return _PASSWORD_PARAM.sub("***", _USERINFO.sub(hide, text))


class TrainsmartError(Exception):
    """Base of every error raised on purpose by trainsmart."""

    status_code: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message}

    def headers(self) -> dict[str, str]:
        """Extra HTTP response headers of this error (none by default)."""
        return {}


class InvalidInput(TrainsmartError):
    """A request body or value that does not match what was expected."""

    status_code = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = None if field is None else clip(field, FIELD_LIMIT)

    @classmethod
    def for_field(cls, field: str, expected: str, got: Any) -> InvalidInput:
        field = clip(field, FIELD_LIMIT)
        return cls(f"field '{field}': expected {expected}, got {clip(repr(got))}", field=field)

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        if self.field is not None:
            body["field"] = self.field
        return body


class PayloadTooLarge(InvalidInput):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaType(InvalidInput):
    status_code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class Unauthorized(TrainsmartError):
    """A missing or wrong token. The answer says only "unauthorized": telling a caller
    whether the header was absent, malformed or wrong helps an attacker, not a user."""

    status_code = HTTPStatus.UNAUTHORIZED

    def __init__(self) -> None:
        super().__init__("unauthorized")

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(TrainsmartError):
    """An endpoint that the settings switch off (admin routes without serving.admin_token)."""

    status_code = HTTPStatus.FORBIDDEN


class NotFound(TrainsmartError):
    status_code = HTTPStatus.NOT_FOUND


class ModelNotFound(NotFound):
    def __init__(self, name: str, version: str | None = None) -> None:
        what = f"model '{name}'" if version is None else f"model '{name}' version '{version}'"
        super().__init__(
            f"{what} is not in the registry; run 'trainsmart models list' to see what is"
        )
        self.name = name
        self.version = version


class ModelNotServed(NotFound):
    def __init__(self, name: str, served: str) -> None:
        super().__init__(f"model '{name}' is not served here; this service serves only '{served}'")
        self.name = name
        self.served = served


class VersionNotLoaded(NotFound):
    def __init__(self, name: str, version: str, loaded: str, candidate: str | None = None) -> None:
        served = f"the production version '{loaded}'" + (
            f" and the candidate '{candidate}'" if candidate else " (no candidate is set)"
        )
        super().__init__(
            f"model '{name}' version '{version}' is not loaded; this service serves {served}. "
            "Pin a version named here, leave the version out to get production, or make "
            f"'{version}' the candidate ('trainsmart models candidate {name} {version}' or "
            "PUT /admin/candidate)"
        )
        self.name = name
        self.version = version
        self.loaded = loaded
        self.candidate = candidate


class RequestNotFound(NotFound):
    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"request_id '{clip(request_id)}' is not in the input log; send feedback with the "
            "request_id returned by /predict"
        )
        self.request_id = request_id


class Conflict(TrainsmartError):
    status_code = HTTPStatus.CONFLICT


class RegistryError(Conflict):
    """A registry operation that cannot be carried out as asked."""


class NotReady(TrainsmartError):
    status_code = HTTPStatus.SERVICE_UNAVAILABLE


class StateUnavailable(NotReady):
    """The shared state database (input log, feedback, jobs) refused a write."""


class TrainingError(TrainsmartError):
    """Training or export could not produce a model that may be registered."""


class ConfigError(TrainsmartError):
    """Settings that cannot work together."""


class RemoteStorageError(TrainsmartError):
    """Object storage or a remote file system (an export/import URL) refused or failed an
    operation: missing bucket, rejected credentials, unreachable endpoint."""

    status_code = HTTPStatus.BAD_GATEWAY
