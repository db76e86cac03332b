"""Validate the Kubernetes manifests of ``deploy/kubernetes/`` and the retrain Job the
monitor renders, against Kubernetes' own OpenAPI schema (``kubernetes-validate``, strict:
an unknown or misspelt field fails, not only a wrong type).

Also checked: every manifest is listed in ``kustomization.yaml`` (and every listed file
exists), no manifest pins a namespace (``kubectl apply -k ... -n NS`` chooses it), and
the settings file in ``configmap.yaml`` loads as trainsmart settings. The retrain Job is
rendered from those settings, so what is validated is what the monitor would create.

Usage (``make manifests``)::

    python -m deploy.validate                       # exit 1, one line per problem
    python -m deploy.validate --kubernetes-version 1.33 path/to/manifests
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from pydantic import ValidationError

from apps.settings import Settings
from monitoring.runners.kubernetes.render import example_job, render_job

KUBERNETES_VERSION = "1.30"
"""The oldest Kubernetes the manifests must work on (a release still widely run)."""
MANIFESTS = Path(__file__).resolve().parent / "kubernetes"
KUSTOMIZATION = "kustomization.yaml"
CONFIG_MAP = "trainsmart-config"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one resource of one file."""

    source: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.resource}: {self.message}"


def resource_name(doc: dict[str, Any]) -> str:
    name = (doc.get("metadata") or {}).get("name", "?")
    return f"{doc.get('kind', '?')}/{name}"


def validate_resource(doc: Any, source: str, version: str = KUBERNETES_VERSION) -> list[Problem]:
    """Problems of one resource against the schema of Kubernetes ``version`` (strict)."""
    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        return [Problem(source, "?", "not a Kubernetes resource (no apiVersion and kind)")]
    resource = resource_name(doc)
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path) or "(top level)"
        return [Problem(source, resource, f"{where}: {exc.message} (Kubernetes {version})")]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [Problem(source, resource, f"{exc.message}; is apiVersion or kind misspelt?")]
    if "namespace" in (doc.get("metadata") or {}):
        return [Problem(source, resource, "sets metadata.namespace; leave it to `kubectl -n`")]
    return []


def load_documents(path: Path) -> tuple[list[Any], list[Problem]]:
    """The non-empty YAML documents of ``path``, or the parse error."""
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if d is not None], []
    except (OSError, yaml.YAMLError) as exc:
        return [], [Problem(path.name, "-", f"cannot be read as YAML: {exc}")]


def validate_folder(folder: Path, version: str = KUBERNETES_VERSION) -> list[Problem]:
    """Problems of every ``*.yaml`` manifest of ``folder``, its kustomization and config."""
    files = sorted(p for p in folder.glob("*.yaml") if p.name != KUSTOMIZATION)
    if not files:
        return [Problem(str(folder), "-", "no *.yaml manifests here")]
    problems = validate_kustomization(folder, files)
    rendered = False
    for path in files:
        docs, unreadable = load_documents(path)
        problems += unreadable
        for doc in docs:
            problems += validate_resource(doc, path.name, version)
            if isinstance(doc, dict) and resource_name(doc) == f"ConfigMap/{CONFIG_MAP}":
                problems += validate_rendered_job(doc, path.name, version)
                rendered = True
    if not rendered:
        problems.append(
            Problem(
                str(folder),
                f"ConfigMap/{CONFIG_MAP}",
                "missing: the settings file of every pod, and what the retrain Job is "
                "rendered from",
            )
        )
    return problems


def validate_kustomization(folder: Path, files: Iterable[Path]) -> list[Problem]:
    """``kustomization.yaml`` lists exactly the manifests of the folder."""
    path = folder / KUSTOMIZATION
    if not path.is_file():
        return []
    docs, problems = load_documents(path)
    if problems:
        return problems
    listed = set((docs[0] or {}).get("resources") or []) if docs else set()
    present = {p.name for p in files}
    return [
        Problem(KUSTOMIZATION, "resources", f"{name} is not listed; add it or delete it")
        for name in sorted(present - listed)
    ] + [
        Problem(KUSTOMIZATION, "resources", f"{name} is listed but does not exist")
        for name in sorted(listed - present)
    ]


def validate_rendered_job(
    config_map: dict[str, Any], source: str, version: str = KUBERNETES_VERSION
) -> list[Problem]:
    """The ConfigMap's ``trainsmart.yaml`` loads as settings, and the retrain Job the
    monitor renders from them validates."""
    text = (config_map.get("data") or {}).get("trainsmart.yaml")
    if text is None:
        return [Problem(source, resource_name(config_map), "has no data key trainsmart.yaml")]
    try:
        settings = Settings(**(yaml.safe_load(text) or {}))
    except (yaml.YAMLError, ValidationError) as exc:
        return [Problem(source, f"{resource_name(config_map)} trainsmart.yaml", str(exc))]
    scope = settings.monitoring_scope()
    job = example_job(scope, "deploy/validate.py")
    manifest = render_job(scope, job, namespace="default")
    manifest["metadata"].pop("namespace")  # the monitor sets it; manifests here must not
    return validate_resource(manifest, f"{source} (rendered retrain Job)", version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folder", nargs="?", type=Path, default=MANIFESTS)
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    problems = validate_folder(args.folder, args.kubernetes_version)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} problem(s) in {args.folder}; fix them (the message names the "
            "field) and run `make manifests` again",
            file=sys.stderr,
        )
        return 1
    count = len([p for p in args.folder.glob("*.yaml") if p.name != KUSTOMIZATION])
    print(
        f"{args.folder}: {count} manifests and the rendered retrain Job are valid against "
        f"Kubernetes {args.kubernetes_version} (strict)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
