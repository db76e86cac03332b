"""Export and import of bundles: through a plain path, a file:// URL and a real S3-compatible
server (moto_server on a free loopback port, talked to over HTTP by s3fs), into a second
registry with its own store and database."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from apps.cli.main import cli
from apps.settings import Settings, load_settings
from tests.conftest import BundleFactory
from tests.moto import MotoServer, find_moto_server
from trainsmart.errors import ConfigError, NotFound, RegistryError, RemoteStorageError
from trainsmart.registry import Bundle, Lineage, Registry
from trainsmart.registry.bundle import CHECKSUMS_FILE
from trainsmart.registry.transfer import export_bundle, import_bundle, list_remote
from trainsmart.state import SqliteDatabase

SECRET = "s3cr3t-never-printed"
Target = tuple[str, dict[str, Any] | None]
"""An export URL and the storage options it needs."""


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-compatible HTTP server (moto_server) on a free loopback port."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    try:
        with MotoServer(find_moto_server(), log) as server:
            yield server.url
    finally:
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()  # its cached clients point at this server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from the environment only (never the developer's ~/.aws)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "trainsmart-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def bucket(s3_endpoint: str, aws_env: None) -> str:
    """A new, empty bucket on the moto server."""
    import boto3

    name = f"trainsmart-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["path", "file-url", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "path":
        return str(tmp_path / "exports"), None
    if request.param == "file-url":
        return (tmp_path / "exports").as_uri(), None
    endpoint = request.getfixturevalue("s3_endpoint")
    return f"s3://{request.getfixturevalue('bucket')}/models", {"endpoint_url": endpoint}


def fresh_registry(data_dir: Path) -> Registry:
    """Another registry: its own store and its own state database."""
    settings = load_settings(data_dir=data_dir, model_name="fair")
    return Registry(settings.paths.model_store, SqliteDatabase(settings.paths.state_db))


@pytest.fixture
def other(tmp_path: Path) -> Registry:
    return fresh_registry(tmp_path / "other")


def remote_fs(target: Target) -> tuple[Any, str]:
    import fsspec

    url, options = target
    fs, root = fsspec.url_to_fs(url, **(options or {}))
    return fs, root


def assert_identical(a: Bundle, b: Bundle) -> None:
    files = [*sorted(json.loads((a.path / CHECKSUMS_FILE).read_text())), CHECKSUMS_FILE]
    for rel in files:
        assert (a.path / rel).read_bytes() == (b.path / rel).read_bytes(), rel


def test_round_trip_into_another_registry(
    target: Target, registry: Registry, other: Registry, make_bundle: BundleFactory
) -> None:
    from serving.runtime import load_model
    from serving.settings import ServingSettings
    from tests.conftest import FAIR_CATEGORICAL, FAIR_NUMERIC, fair_row

    version = make_bundle()
    url, options = target
    folder = export_bundle(registry, "fair", version, url, storage_options=options)
    assert folder.endswith(f"/fair/{version}")
    assert list_remote(url, storage_options=options) == [("fair", version)]
    imported = import_bundle(other, url, name="fair", storage_options=options)
    assert (imported.name, imported.version) == ("fair", version)
    imported.verify()
    assert_identical(registry.get("fair", version), imported)
    assert other.production("fair") is None, "importing must not promote"
    # both again: the same content is a no-op, by folder URL as well
    assert export_bundle(registry, "fair", version, url, storage_options=options) == folder
    again = import_bundle(other, folder, storage_options=options)
    assert again.path == imported.path and other.versions("fair") == [version]
    served = load_model(other, "fair", version, ServingSettings())
    row = fair_row()
    matrix = np.array([[row[n] for n in FAIR_NUMERIC + FAIR_CATEGORICAL]], dtype=np.float32)
    probabilities = served.predict_proba(matrix)
    assert probabilities.shape == (1, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), [1.0], rtol=1e-5)


def test_an_interrupted_export_is_refused_until_exported_again(
    target: Target, registry: Registry, other: Registry, make_bundle: BundleFactory
) -> None:
    version = make_bundle()
    url, options = target
    export_bundle(registry, "fair", version, url, storage_options=options)
    fs, root = remote_fs(target)
    fs.rm(f"{root}/fair/{version}/bundle.json")  # what an upload cut short leaves
    assert list_remote(url, storage_options=options) == []
    with pytest.raises(RegistryError, match=r"no bundle\.json: an export that did not finish"):
        import_bundle(other, url, name="fair", version=version, storage_options=options)
    assert other.versions("fair") == []
    export_bundle(registry, "fair", version, url, storage_options=options)
    assert import_bundle(other, url, name="fair", storage_options=options).version == version


def test_a_crash_mid_export_leaves_nothing_importable(
    registry: Registry,
    other: Registry,
    make_bundle: BundleFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fsspec.implementations.local import LocalFileSystem

    version = make_bundle()
    url = str(tmp_path / "exports")
    real_put, calls = LocalFileSystem.put_file, []

    def crash_on_third(self: LocalFileSystem, lpath: str, rpath: str, **kw: Any) -> None:
        calls.append(rpath)
        if len(calls) == 3:
            raise OSError("No space left on device")
        real_put(self, lpath, rpath, **kw)

    monkeypatch.setattr(LocalFileSystem, "put_file", crash_on_third)
    with pytest.raises(RemoteStorageError, match="No space left on device"):
        export_bundle(registry, "fair", version, url)
    assert list_remote(url) == []
    with pytest.raises(RegistryError, match="an export that did not finish"):
        import_bundle(other, url, name="fair", version=version)
    assert other.versions("fair") == []


def test_a_tampered_file_is_refused_and_nothing_registered(
    target: Target, registry: Registry, other: Registry, make_bundle: BundleFactory
) -> None:
    version = make_bundle()
    url, options = target
    folder = export_bundle(registry, "fair", version, url, storage_options=options)
    fs, root = remote_fs(target)
    there = f"{root}/fair/{version}"
    fs.pipe_file(f"{there}/model.onnx", b"not the model that was exported")
    with pytest.raises(RegistryError, match=r"model\.onnx does not match its sha256"):
        import_bundle(other, folder, storage_options=options)
    assert other.versions("fair") == []
    # bundle.json edited to match the tampered file: checksums.json still disagrees
    manifest = json.loads(fs.cat_file(f"{there}/bundle.json"))
    manifest["files"]["model.onnx"] = hashlib.sha256(b"not the model that was exported").hexdigest()
    fs.pipe_file(f"{there}/bundle.json", json.dumps(manifest).encode())
    with pytest.raises(RegistryError, match=r"bundle\.json and checksums\.json list different"):
        import_bundle(other, folder, storage_options=options)
    assert other.versions("fair") == []


def test_a_different_bundle_of_the_same_version_is_never_overwritten(
    target: Target,
    registry: Registry,
    other: Registry,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    v1 = make_bundle(bias=0.0)
    v2 = make_bundle(bias=2.0, promote=False)
    url, options = target
    export_bundle(registry, "fair", v1, url, storage_options=options)
    # the other registry trains its own fair:v1 (here: v2's files, another lineage)
    staging = tmp_path / "their-v1"
    shutil.copytree(
        registry.get("fair", v2).path,
        staging,
        ignore=shutil.ignore_patterns("model.yaml", CHECKSUMS_FILE, "lineage.json"),
    )
    theirs = other.register("fair", staging, Lineage(dataset_fingerprint="elsewhere"))
    assert theirs.version == v1
    with pytest.raises(RegistryError, match=f"already holds a different fair:{v1}"):
        export_bundle(other, "fair", v1, url, storage_options=options)
    with pytest.raises(RegistryError, match=f"fair:{v1} is already in this registry and differs"):
        import_bundle(other, url, name="fair", version=v1, storage_options=options)
    third = fresh_registry(tmp_path / "third")
    assert_identical(
        registry.get("fair", v1), import_bundle(third, url, name="fair", storage_options=options)
    )


def test_a_manifest_naming_paths_outside_the_bundle_is_refused(
    registry: Registry, other: Registry, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    version = make_bundle()
    export_bundle(registry, "fair", version, str(tmp_path / "exports"))
    folder = tmp_path / "exports" / "fair" / version
    manifest = json.loads((folder / "bundle.json").read_text())
    manifest["files"]["../../escaped.txt"] = "0" * 64
    (folder / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(RegistryError, match="not a path inside the bundle"):
        import_bundle(other, str(folder))
    assert other.versions("fair") == [] and not (tmp_path / "escaped.txt").exists()


def test_nothing_at_the_url_is_not_found(other: Registry, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no bundle at"):
        import_bundle(other, str(tmp_path / "empty" / "fair" / "v1"))
    with pytest.raises(NotFound, match="no complete bundle of 'fair'"):
        import_bundle(other, str(tmp_path / "empty"), name="fair")


def test_without_s3fs_the_error_says_what_to_install(
    registry: Registry, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = make_bundle()
    monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, "s3", raising=False)
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'trainsmart\[s3\]'"):
        export_bundle(registry, "fair", version, "s3://bucket/models")


def test_a_missing_bucket_names_the_url_and_never_the_secret(
    s3_endpoint: str, aws_env: None, registry: Registry, make_bundle: BundleFactory
) -> None:
    version = make_bundle()
    url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/models"
    with pytest.raises(RemoteStorageError, match="check that the bucket") as caught:
        export_bundle(registry, "fair", version, url, storage_options={"endpoint_url": s3_endpoint})
    assert f"{url}/fair/{version}" in caught.value.message
    assert SECRET not in caught.value.message


def _config(settings: Settings, path: Path) -> Path:
    path.write_text(f"data_dir: {settings.data_dir}\nmodel_name: fair\n")
    return path


@pytest.mark.parametrize("command", ["export", "import", "remote"])
def test_transfer_commands_have_help(command: str) -> None:
    result = CliRunner().invoke(cli, ["models", command, "--help"])
    assert result.exit_code == 0, result.output
    assert "AWS_ENDPOINT_URL" in result.output


@pytest.mark.sqlite  # "their" configuration is another machine's state only on SQLite
def test_export_and_import_from_the_cli(
    s3_endpoint: str,
    bucket: str,
    settings: Settings,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    version = make_bundle()
    ours = _config(settings, tmp_path / "ours.yaml")
    theirs = _config(load_settings(data_dir=tmp_path / "other"), tmp_path / "theirs.yaml")
    url = f"s3://{bucket}/models"
    run = CliRunner().invoke
    out = run(
        cli,
        [
            "--config",
            str(ours),
            "models",
            "export",
            "fair",
            version,
            url,
            "--endpoint-url",
            s3_endpoint,
        ],
    )
    assert out.exit_code == 0, out.output
    assert f"exported fair:{version} to {url}/fair/{version}" in out.output
    env = {"AWS_ENDPOINT_URL": s3_endpoint}  # what boto honours without --endpoint-url
    listed = run(cli, ["models", "remote", url], env=env)
    assert listed.exit_code == 0 and f"fair:{version}" in listed.output, listed.output
    took = run(cli, ["--config", str(theirs), "models", "import", url, "--name", "fair"], env=env)
    assert took.exit_code == 0, took.output
    assert f"imported fair:{version} from {url}" in took.output
    again = run(
        cli, ["--config", str(theirs), "models", "import", f"{url}/fair/{version}"], env=env
    )
    assert again.exit_code == 0 and "already in this registry, identical" in again.output
    missing = run(cli, ["--config", str(theirs), "models", "import", f"{url}/fair/v9"], env=env)
    assert missing.exit_code == 1 and "error: no bundle at" in missing.output
    wrong = run(
        cli,
        [
            "--config",
            str(ours),
            "models",
            "export",
            "fair",
            version,
            str(tmp_path / "x"),
            "--endpoint-url",
            s3_endpoint,
        ],
    )
    assert wrong.exit_code == 2 and "applies to s3:// URLs only" in wrong.output
