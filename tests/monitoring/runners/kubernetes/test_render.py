"""The retrain Job rendered from the settings: valid against Kubernetes' schema (strict),
carrying the command, env, resources and the database URL's Secret reference, never the
URL itself; and ``trainsmart monitor render-job``, which prints it."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from apps.cli.main import cli
from apps.settings import Settings
from deploy.validate import validate_resource
from monitoring.runners.kubernetes.render import job_name, render_job
from tests.monitoring.runners.kubernetes.fake_api import NS, PASSWORD, k8s_settings, queued
from trainsmart.state import Database, JobStore


@pytest.fixture
def kube(settings: Settings, tmp_path: Path) -> Settings:
    return k8s_settings(settings, tmp_path, "https://kubernetes.default.svc")


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


def test_the_rendered_job_validates_and_carries_command_env_and_secret(
    kube: Settings, jobs: JobStore
) -> None:
    job = queued(jobs)
    manifest = render_job(kube.monitoring_scope(), job, NS)
    assert kubernetes_validate.validate(manifest, "1.30", strict=True) == "1.30"
    assert manifest["metadata"]["name"] == f"trainsmart-retrain-fair-{job.id}"
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    assert labels["trainsmart.dev/job-id"] == str(job.id) and labels["team"] == "ml"
    assert labels["app.kubernetes.io/component"] == "retrain"
    spec = manifest["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 60)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"]
    [container] = pod["containers"]
    assert container["command"] == ["trainsmart", "retrain", "--job-id", str(job.id)]
    env = {e["name"]: e for e in container["env"]}
    assert env["TRAINSMART_MODEL_NAME"]["value"] == "fair"
    assert env["TRAINSMART_MODEL_STORE"]["value"] == "/models"
    assert env["TRAINSMART_DATA_DIR"]["value"] == "/data"
    assert env["TRAINSMART_DATABASE_URL"] == {
        "name": "TRAINSMART_DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "trainsmart-secrets", "key": "database-url"}},
    }
    assert container["envFrom"] == [{"secretRef": {"name": "trainsmart-training"}}]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["trainsmart-models"]
    dumped = json.dumps(manifest)
    assert PASSWORD not in dumped and "postgresql://" not in dumped


def test_a_misspelt_field_fails_validation(kube: Settings, jobs: JobStore) -> None:
    manifest = render_job(kube.monitoring_scope(), queued(jobs), NS)
    manifest["metadata"].pop("namespace")
    assert validate_resource(manifest, "job") == []
    manifest["spec"]["template"]["spec"]["containers"][0]["resourcez"] = {}
    [problem] = validate_resource(manifest, "job")
    assert "'resourcez' was unexpected" in problem.message
    assert "spec.template.spec.containers.0" in problem.message


def test_job_names_are_dns_labels_of_at_most_63_characters() -> None:
    name = job_name("a." + "b_" * 31, 123456)
    assert len(name) <= 63 and name.endswith("-123456")
    assert all(c.isalnum() or c == "-" for c in name) and name[0].isalpha()


def test_the_cli_prints_the_job_as_yaml(kube: Settings, jobs: JobStore, tmp_path: Path) -> None:
    job = queued(jobs)
    config = tmp_path / "k8s.yaml"
    config.write_text(f"data_dir: {kube.data_dir}\nmodel_name: fair\n")
    args = ["--config", str(config), "monitor", "render-job", "--job-id", str(job.id)]
    result = CliRunner().invoke(cli, [*args, "--namespace", "prod"])
    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(result.output)
    assert manifest["kind"] == "Job" and manifest["metadata"]["namespace"] == "prod"
    assert manifest["metadata"]["name"] == f"trainsmart-retrain-fair-{job.id}"
