"""The Kubernetes manifests of deploy/kubernetes/: valid against Kubernetes' schema (strict),
and wired together as documented (probes, scrape annotations, one monitor, RBAC, secrets).

Nothing is applied to a cluster (none is reachable here); ``deploy/validate.py`` is what
``make manifests`` runs, and these tests also show that it rejects a broken manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from apps.settings import Settings
from deploy.validate import MANIFESTS, main, validate_folder
from monitoring.runners.kubernetes.render import example_job, render_job


def resources() -> dict[str, dict[str, Any]]:
    """Every resource of the folder, by ``Kind/name``."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def settings_of_the_config_map() -> Settings:
    text = resources()["ConfigMap/trainsmart-config"]["data"]["trainsmart.yaml"]
    return Settings(**yaml.safe_load(text))


def test_every_manifest_and_the_rendered_job_validate() -> None:
    assert validate_folder(MANIFESTS) == []
    expected = {
        "Deployment/trainsmart-service",
        "Service/trainsmart",
        "HorizontalPodAutoscaler/trainsmart-service",
        "Deployment/trainsmart-monitor",
        "Role/trainsmart-monitor",
        "PersistentVolumeClaim/trainsmart-models",
    }
    assert expected <= set(resources())


def test_the_service_has_probes_scrape_annotations_and_autoscaling() -> None:
    found = resources()
    deployment = found["Deployment/trainsmart-service"]
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]
    service = container(deployment)
    assert service["command"] == ["trainsmart", "serve"]
    assert service["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert service["livenessProbe"]["httpGet"]["path"] == "/livez"
    [port] = service["ports"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    settings = settings_of_the_config_map()
    assert (settings.serving.host, settings.serving.port) == ("0.0.0.0", port["containerPort"])
    assert found["Service/trainsmart"]["spec"]["selector"] == pod["metadata"]["labels"]
    hpa = found["HorizontalPodAutoscaler/trainsmart-service"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "trainsmart-service"
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert "cpu" in service["resources"]["requests"]  # what the utilization is relative to


def test_one_monitor_whose_account_may_manage_jobs() -> None:
    found = resources()
    monitor = found["Deployment/trainsmart-monitor"]
    assert monitor["spec"]["replicas"] == 1 and monitor["spec"]["strategy"]["type"] == "Recreate"
    pod = monitor["spec"]["template"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9108"
    account = pod["spec"]["serviceAccountName"]
    binding = found["RoleBinding/trainsmart-monitor"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account}]
    [rule] = found[f"Role/{binding['roleRef']['name']}"]["rules"]
    assert rule["apiGroups"] == ["batch"] and rule["resources"] == ["jobs"]
    assert {"create", "get", "list", "delete"} <= set(rule["verbs"])
    settings = settings_of_the_config_map()
    assert settings.monitoring.job_runner == "kubernetes"
    assert settings.monitoring.port == 9108 and settings.monitoring.host == "0.0.0.0"


def test_external_services_come_from_the_secret_only() -> None:
    settings = settings_of_the_config_map()
    secret = settings.monitoring.kubernetes.database_url_secret
    assert secret is not None
    assert not any(r["kind"] in ("Secret", "StatefulSet") for r in resources().values())
    for name in ("Deployment/trainsmart-service", "Deployment/trainsmart-monitor"):
        env = {e["name"]: e for e in container(resources()[name])["env"]}
        ref = env["TRAINSMART_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (secret.name, secret.key)
    service_env = {
        e["name"]: e for e in container(resources()["Deployment/trainsmart-service"])["env"]
    }
    assert (
        service_env["TRAINSMART_SERVING__REDIS_URL"]["valueFrom"]["secretKeyRef"]["key"]
        == "redis-url"
    )
    text = "".join(p.read_text() for p in MANIFESTS.glob("*.yaml"))
    assert "postgresql://" not in text and "redis://" not in text


def test_a_broken_manifest_is_rejected_with_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "kubernetes"
    shutil.copytree(MANIFESTS, folder)
    service = folder / "service.yaml"
    service.write_text(service.read_text().replace("containerPort: 3000", "containerPort: '3000'"))
    (folder / "stray.yaml").write_text("apiVersion: v1\nkind: ConfigMapp\nmetadata: {name: x}\n")
    problems = [str(p) for p in validate_folder(folder)]
    field = "spec.template.spec.containers.0.ports.0.containerPort"
    wrong_port = f"service.yaml: Deployment/trainsmart-service: {field}"
    assert any(p.startswith(wrong_port) for p in problems), problems
    assert any(p.startswith("stray.yaml: ConfigMapp/x:") for p in problems), problems
    assert any("stray.yaml is not listed" in p for p in problems), problems
    assert main([str(folder)]) == 1
    assert "error: service.yaml" in capsys.readouterr().err
    assert main([]) == 0


def test_bad_settings_in_the_config_map_are_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "kubernetes"
    shutil.copytree(MANIFESTS, folder)
    config = folder / "configmap.yaml"
    config.write_text(config.read_text().replace("job_runner: kubernetes", "job_runner: k8s"))
    [problem] = validate_folder(folder)
    assert problem.source == "configmap.yaml" and "job_runner" in problem.message


def test_no_pod_gets_kubernetes_service_links_in_its_environment() -> None:
    """Kubernetes would add TRAINSMART_SERVICE_HOST & co. for the Services named trainsmart
    and trainsmart-monitor; the settings loader skips them anyway, but the pods opt out."""
    deployments = [d for key, d in resources().items() if key.startswith("Deployment/")]
    assert len(deployments) == 2
    for deployment in deployments:
        assert deployment["spec"]["template"]["spec"]["enableServiceLinks"] is False
    scope = settings_of_the_config_map().monitoring_scope()
    job = render_job(scope, example_job(scope, "test"), "default")
    assert job["spec"]["template"]["spec"]["enableServiceLinks"] is False
