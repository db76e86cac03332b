"""Export registered bundles to a URL and import them into another registry: object storage
(``s3://bucket/prefix`` on AWS or any S3-compatible server), a shared file system
(``file:///path`` or a plain path), or any other fsspec protocol.

At the URL each version gets its own folder::

    <url>/<name>/<version>/model.onnx, contract.json, ..., checksums.json
    <url>/<name>/<version>/bundle.json   written last: every file above and its sha256

``bundle.json`` is the commit marker. An export that stops half-way leaves files and no
``bundle.json``, and import refuses such a folder; a destination that already holds a
different ``name:version`` is never overwritten. Import downloads into a temporary folder,
checks each file against ``bundle.json`` and then ``checksums.json``
(``Registry.import_version``), and registers the version under its own name and version.

Credentials come from the protocol's usual places: for s3:// the AWS variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for MinIO, Ceph,
moto, ...), ``~/.aws``, an instance role; ``storage_options`` go to fsspec as they are
(``{"endpoint_url": ...}`` for s3fs).

Example::

    export_bundle(registry, "fair", "v3", "s3://models/trainsmart")  # .../trainsmart/fair/v3
    list_remote("s3://models/trainsmart")                             # [("fair", "v3")]
    import_bundle(other_registry, "s3://models/trainsmart", name="fair", version="v3")
"""

from __future__ import annotations

import json
import logging
import posixpath
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from trainsmart.errors import InvalidInput, NotFound, RegistryError, redact
from trainsmart.names import check_name
from trainsmart.registry.bundle import CHECKSUMS_FILE, Bundle, sha256_file
from trainsmart.registry.remote import (
    MANIFEST_FILE,
    Manifest,
    is_local,
    list_bundles,
    open_url,
    read_manifest,
    storage_errors,
    where,
)

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from trainsmart.registry.store import Registry

logger = logging.getLogger(__name__)


def export_bundle(
    registry: Registry,
    name: str,
    version: str,
    url: str,
    *,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """Copy the verified bundle ``name:version`` to ``<url>/<name>/<version>/`` and return
    that folder's URL; ``bundle.json`` goes last. Exporting the same bundle again uploads
    nothing; a different bundle already there is an error."""
    bundle = registry.get(name, version)
    bundle.verify()
    files = {**_recorded(bundle), CHECKSUMS_FILE: sha256_file(bundle.path / CHECKSUMS_FILE)}
    manifest = Manifest(name=name, version=version, files=dict(sorted(files.items())))
    fs, root = open_url(url, storage_options)
    folder = f"{root}/{name}/{version}"
    place = where(fs, folder)
    with storage_errors(place, "export to"):
        there = read_manifest(fs, folder)
        if there == manifest:
            logger.info("%s:%s is already at %s, identical; nothing uploaded", name, version, place)
            return str(fs.unstrip_protocol(folder))
        if there is not None:
            raise RegistryError(
                f"{place} already holds a different {name}:{version} (exported from another "
                "registry?); nothing was uploaded. Export to another URL, or remove that folder "
                "first if nothing needs it"
            )
        local = is_local(fs)
        for rel in manifest.files:
            target = f"{folder}/{rel}"
            if local:  # object stores have no folders to create
                fs.makedirs(posixpath.dirname(target), exist_ok=True)
            fs.put_file(str(bundle.path / rel), target)
        body = manifest.model_dump_json(indent=2).encode()
        if local:  # a rename, so that a reader never sees half a bundle.json
            fs.pipe_file(f"{folder}/{MANIFEST_FILE}.partial", body)
            fs.mv(f"{folder}/{MANIFEST_FILE}.partial", f"{folder}/{MANIFEST_FILE}")
        else:  # one PUT: an object appears whole or not at all
            fs.pipe_file(f"{folder}/{MANIFEST_FILE}", body)
    logger.info("exported %s:%s to %s (%d files)", name, version, place, len(manifest.files))
    return str(fs.unstrip_protocol(folder))


def import_bundle(
    registry: Registry,
    url: str,
    *,
    name: str | None = None,
    version: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Bundle:
    """Register the bundle at ``url``, keeping its name and version.

    Without ``name``, ``url`` is one bundle's folder (``<url>/<name>/<version>``); with it,
    ``url`` is the URL given to export and the bundle is ``<url>/<name>/<version>`` (default
    version: the newest complete one there). An identical version already registered is
    returned as it is; a different one with the same ``name:version`` is an error.
    """
    fs, root = open_url(url, storage_options)
    folder = _bundle_folder(fs, root, name, version)
    place = where(fs, folder)
    with storage_errors(place, "import from"):
        manifest = read_manifest(fs, folder)
        if manifest is None:
            _refuse_missing(fs, folder, place)
    manifest.check(place)
    wanted = (name or manifest.name, version or manifest.version)
    if wanted != (manifest.name, manifest.version):
        raise RegistryError(
            f"{place}/{MANIFEST_FILE} describes {manifest.name}:{manifest.version}, not "
            f"{wanted[0]}:{wanted[1]} (moved by hand?); nothing was imported"
        )
    if manifest.version in registry.versions(manifest.name):
        return _already_here(registry, manifest, place)
    with tempfile.TemporaryDirectory(prefix="trainsmart-import-") as tmp:
        staging = Path(tmp)
        with storage_errors(place, "import from"):
            for rel, expected in manifest.files.items():
                _download(fs, f"{folder}/{rel}", staging / rel, expected)
        try:
            recorded = json.loads((staging / CHECKSUMS_FILE).read_text())
        except ValueError as exc:
            raise RegistryError(f"{place}/{CHECKSUMS_FILE} is not JSON ({exc})") from exc
        if recorded != manifest.recorded():
            raise RegistryError(
                f"{place}: {MANIFEST_FILE} and {CHECKSUMS_FILE} list different files or "
                "checksums (modified by hand?); nothing was imported. Export it again"
            )
        bundle = registry.import_version(manifest.name, manifest.version, staging)
    logger.info("imported %s:%s from %s", bundle.name, bundle.version, place)
    return bundle


def list_remote(
    url: str, *, storage_options: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """The complete bundles (with ``bundle.json``) under the export URL ``url``, as
    (name, version) pairs, by name and then version number."""
    fs, root = open_url(url, storage_options)
    with storage_errors(redact(url), "list"):
        return list_bundles(fs, root)


def _recorded(bundle: Bundle) -> dict[str, str]:
    recorded: dict[str, str] = json.loads((bundle.path / CHECKSUMS_FILE).read_text())
    return recorded


def _bundle_folder(fs: AbstractFileSystem, root: str, name: str | None, version: str | None) -> str:
    if name is None:
        if version is not None:
            raise InvalidInput("a version to import needs the model name too (--name)")
        return root
    check_name(name, "model")
    if version is None:
        place = where(fs, root)
        with storage_errors(place, "list"):
            versions = [v for _, v in list_bundles(fs, root, name)]
        if not versions:
            raise NotFound(
                f"no complete bundle of '{name}' under {place}; 'trainsmart models remote URL' "
                "lists the bundles there"
            )
        version = versions[-1]
    check_name(version, "version")
    return f"{root}/{name}/{version}"


def _refuse_missing(fs: AbstractFileSystem, folder: str, place: str) -> NoReturn:
    if fs.exists(folder) and fs.ls(folder, detail=False):
        raise RegistryError(
            f"{place} holds files but no {MANIFEST_FILE}: an export that did not finish; "
            "nothing was imported. Export the version again "
            "('trainsmart models export NAME VERSION URL')"
        )
    raise NotFound(
        f"no bundle at {place} (no {MANIFEST_FILE}); give the folder of one bundle, or the "
        "export URL with --name ('trainsmart models remote URL' lists what is there)"
    )


def _already_here(registry: Registry, manifest: Manifest, place: str) -> Bundle:
    bundle = registry.get(manifest.name, manifest.version)
    bundle.verify()
    if _recorded(bundle) != manifest.recorded():
        raise RegistryError(
            f"{manifest.name}:{manifest.version} is already in this registry and differs from "
            f"the bundle at {place}; versions are immutable, so nothing was imported. Import it "
            "into a registry without that version"
        )
    return bundle


def _download(fs: AbstractFileSystem, remote: str, local: Path, expected: str) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    try:
        fs.get_file(remote, str(local))
    except FileNotFoundError as exc:
        raise RegistryError(
            f"{where(fs, remote)} is listed in {MANIFEST_FILE} but missing: the export is "
            "damaged and nothing was imported; export it again"
        ) from exc
    if sha256_file(local) != expected:
        raise RegistryError(
            f"{where(fs, remote)} does not match its sha256 in {MANIFEST_FILE} (corrupt, or "
            "modified where it is stored); nothing was imported: export it again"
        )
