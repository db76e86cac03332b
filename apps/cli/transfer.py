"""``trainsmart models export|import|remote``: bundles to and from object storage or a shared
file system (trainsmart/registry/transfer.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from apps.cli.context import AppContext
from trainsmart.errors import redact
from trainsmart.registry.transfer import export_bundle, import_bundle, list_remote

F = TypeVar("F", bound=Callable[..., Any])

CREDENTIALS = (
    "Credentials for s3:// URLs: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, "
    "~/.aws, an instance role); an S3-compatible server (MinIO, Ceph, ...): AWS_ENDPOINT_URL "
    "or --endpoint-url."
)


def endpoint_option(command: F) -> F:
    return click.option(
        "--endpoint-url",
        default=None,
        metavar="URL",
        help="S3-compatible endpoint for s3:// URLs (default: $AWS_ENDPOINT_URL, else AWS).",
    )(command)


def storage_options(url: str, endpoint_url: str | None) -> dict[str, Any] | None:
    if endpoint_url is None:
        return None
    if not url.lower().startswith(("s3://", "s3a://")):
        raise click.UsageError(f"--endpoint-url applies to s3:// URLs only, not {redact(url)}")
    return {"endpoint_url": endpoint_url}


@click.command("export", epilog=CREDENTIALS)
@click.argument("name")
@click.argument("version")
@click.argument("url")
@endpoint_option
@click.pass_obj
def export(app: AppContext, name: str, version: str, url: str, endpoint_url: str | None) -> None:
    """Copy NAME VERSION to URL/NAME/VERSION/ (checksums verified; bundle.json last).

    \b
    trainsmart models export fair v3 s3://my-bucket/trainsmart
    trainsmart models export fair v3 /mnt/shared/exports

    Exporting the same version again uploads nothing; a different bundle already at the
    destination is never overwritten. Another registry takes it with 'trainsmart models
    import'.
    """
    done = export_bundle(
        app.registry, name, version, url, storage_options=storage_options(url, endpoint_url)
    )
    click.echo(f"exported {name}:{version} to {redact(done)}")


@click.command("import", epilog=CREDENTIALS)
@click.argument("url")
@click.option("--name", default=None, help="Model name under URL (URL is then the export URL).")
@click.option("--version", default=None, help="Version under URL/NAME (default: the newest).")
@endpoint_option
@click.pass_obj
def import_(
    app: AppContext, url: str, name: str | None, version: str | None, endpoint_url: str | None
) -> None:
    """Register the bundle at URL in this registry, keeping its name and version.

    \b
    trainsmart models import s3://my-bucket/trainsmart/fair/v3
    trainsmart models import s3://my-bucket/trainsmart --name fair --version v3
    trainsmart models import /mnt/shared/exports --name fair      (the newest version)

    Every file is checked against bundle.json and checksums.json before anything is
    registered; a folder without bundle.json (an export that did not finish) is refused.
    Importing does not promote: 'trainsmart models promote NAME VERSION' does.
    """
    registry = app.registry
    before = {(n, v) for n in registry.names() for v in registry.versions(n)}
    bundle = import_bundle(
        registry,
        url,
        name=name,
        version=version,
        storage_options=storage_options(url, endpoint_url),
    )
    tag = f"{bundle.name}:{bundle.version}"
    if (bundle.name, bundle.version) in before:
        click.echo(f"{tag} is already in this registry, identical; nothing imported")
    else:
        click.echo(f"imported {tag} from {redact(url)} into {registry.store_path}")


@click.command("remote", epilog=CREDENTIALS)
@click.argument("url")
@endpoint_option
def remote(url: str, endpoint_url: str | None) -> None:
    """List the complete bundles (those with bundle.json) under URL, as NAME:VERSION."""
    found = list_remote(url, storage_options=storage_options(url, endpoint_url))
    if not found:
        click.echo(f"no complete bundles under {redact(url)}")
    for name, version in found:
        click.echo(f"{name}:{version}")
