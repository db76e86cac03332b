"""Where exported bundles live: opening a URL through fsspec, its errors, ``bundle.json``.

``open_url`` turns ``s3://bucket/prefix``, ``file:///path``, a plain path or any other
fsspec URL into a file system and a root path; ``storage_errors`` turns what each backend
raises (botocore, aiohttp, OSError, ...) into ``RemoteStorageError`` naming the URL, never
the credentials. ``Manifest`` is the commit marker an export writes last.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from trainsmart.errors import (
    ConfigError,
    InvalidInput,
    RegistryError,
    RemoteStorageError,
    TrainsmartError,
    clip,
    redact,
)
from trainsmart.names import check_name
from trainsmart.registry.bundle import CHECKSUMS_FILE

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

MANIFEST_FILE = "bundle.json"
_VERSION = re.compile(r"^v(\d+)$")


class Manifest(BaseModel):
    """``bundle.json``: what a complete export holds."""

    format: Literal["trainsmart-bundle/1"] = "trainsmart-bundle/1"
    name: str
    version: str
    files: dict[str, str]
    """sha256 of every file of the bundle (``checksums.json`` included), by relative path."""

    def recorded(self) -> dict[str, str]:
        """The files as ``checksums.json`` lists them (everything but itself)."""
        return {rel: digest for rel, digest in self.files.items() if rel != CHECKSUMS_FILE}

    def check(self, where: str) -> None:
        """Raise RegistryError unless names, version and every path are safe to use here."""
        try:
            check_name(self.name, "model")
            check_name(self.version, "version")
        except InvalidInput as exc:
            raise RegistryError(f"{where}/{MANIFEST_FILE}: {exc.message}") from exc
        if CHECKSUMS_FILE not in self.files:
            raise RegistryError(f"{where}/{MANIFEST_FILE} lists no {CHECKSUMS_FILE}; export again")
        for rel in self.files:
            path = PurePosixPath(rel)
            if path.is_absolute() or "\\" in rel or ".." in path.parts or str(path) != rel:
                raise RegistryError(
                    f"{where}/{MANIFEST_FILE} lists the file {clip(rel)!r}, which is not a path "
                    "inside the bundle; nothing was imported"
                )


def open_url(url: str, storage_options: dict[str, Any] | None) -> tuple[AbstractFileSystem, str]:
    """The file system of ``url`` and the path of ``url`` on it (no trailing slash)."""
    # lazy: fsspec (and its s3fs plugin) only for export and import
    import fsspec

    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    try:
        fs, root = fsspec.url_to_fs(url, **(storage_options or {}))
    except ImportError as exc:
        hint = (
            "pip install 'trainsmart[s3]'"
            if protocol in ("s3", "s3a")
            else f"install the fsspec implementation it names ({exc})"
        )
        raise ConfigError(
            f"{redact(url)}: {protocol}:// URLs need a package that is not installed: {hint}"
        ) from exc
    except ValueError as exc:
        raise ConfigError(
            f"{redact(url)}: not a URL fsspec can open ({exc}); use s3://bucket/prefix, "
            "file:///path or a path"
        ) from exc
    fs.invalidate_cache()  # listings cached by an earlier call in this process may be stale
    return fs, str(root).rstrip("/")


def is_local(fs: AbstractFileSystem) -> bool:
    # lazy: fsspec only for export and import
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def where(fs: AbstractFileSystem, path: str) -> str:
    """``path`` as a URL fit for a message."""
    return redact(str(fs.unstrip_protocol(path)))


@contextmanager
def storage_errors(place: str, doing: str) -> Iterator[None]:
    """The backend's errors as RemoteStorageError naming ``place`` and what to check."""
    try:
        yield
    except TrainsmartError:
        raise
    except FileNotFoundError as exc:
        raise RemoteStorageError(
            f"{doing} {place}: not found ({_said(exc)}); check that the bucket (or folder) "
            "exists and the URL is spelled right"
        ) from exc
    except PermissionError as exc:
        raise RemoteStorageError(
            f"{doing} {place}: access denied ({_said(exc)}); check the credentials (for s3://: "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that they may "
            "read and write this bucket"
        ) from exc
    except Exception as exc:  # each fsspec backend raises its own types (botocore, aiohttp, ...)
        raise RemoteStorageError(
            f"{doing} {place} failed ({type(exc).__name__}: {_said(exc)}); check the endpoint "
            "(for s3://: AWS_ENDPOINT_URL or --endpoint-url), the network and the credentials"
        ) from exc


def _said(exc: BaseException) -> str:
    return redact(clip(str(exc), 300))


def read_manifest(fs: AbstractFileSystem, folder: str) -> Manifest | None:
    """The ``bundle.json`` of ``folder`` (None: there is none)."""
    try:
        raw = fs.cat_file(f"{folder}/{MANIFEST_FILE}")
    except FileNotFoundError:
        return None
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise RegistryError(
            f"{where(fs, folder)}/{MANIFEST_FILE} is not a trainsmart bundle manifest "
            f"({clip(str(exc), 300)}); export the bundle again"
        ) from exc


def list_bundles(fs: AbstractFileSystem, root: str, name: str = "*") -> list[tuple[str, str]]:
    """(name, version) of every complete bundle under ``root`` (of one ``name`` if given), by
    name, then version number."""
    found = []
    for path in fs.glob(f"{root}/{name}/*/{MANIFEST_FILE}"):
        *_, name, version, _manifest = str(path).rstrip("/").split("/")
        found.append((name, version))

    def order(item: tuple[str, str]) -> tuple[str, float, str]:
        number = _VERSION.match(item[1])
        return item[0], int(number.group(1)) if number else math.inf, item[1]

    return sorted(found, key=order)
