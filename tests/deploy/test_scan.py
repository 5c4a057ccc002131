"""checkov over the Terraform, the Dockerfile and the rendered chart, offline; and the
same scan failing on broken inputs fed in beside them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.kube import render, values

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".tools" / "deploy-checks" / "bin" / "checkov"
CONFIG = ROOT / "deploy" / ".checkov.yaml"

BROKEN_TERRAFORM = """
resource "aws_s3_bucket" "open" {
  bucket = "maily-broken-example"
}

resource "aws_s3_bucket_public_access_block" "open" {
  bucket              = aws_s3_bucket.open.id
  block_public_acls   = false
  block_public_policy = false
}

resource "aws_db_instance" "open" {
  engine              = "postgres"
  instance_class      = "db.t3.micro"
  publicly_accessible = true
  storage_encrypted   = false
}
"""

BROKEN_MANIFEST = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "broken", "namespace": "maily"},
    "spec": {
        "selector": {"matchLabels": {"app": "broken"}},
        "template": {
            "metadata": {"labels": {"app": "broken"}},
            "spec": {
                "containers": [
                    {
                        "name": "broken",
                        "image": "maily:latest",
                        "securityContext": {"privileged": True},
                    }
                ]
            },
        },
    },
}


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, set[str]]]:
    """One checkov run; per framework, failed check ids by file (relative to the scan root)."""
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} is missing: run `make install`")
    root = tmp_path_factory.mktemp("scan")
    shutil.copytree(
        ROOT / "deploy" / "terraform",
        root / "terraform",
        ignore=shutil.ignore_patterns(".terraform"),
    )
    (root / "broken-terraform").mkdir()
    (root / "broken-terraform" / "main.tf").write_text(BROKEN_TERRAFORM)
    (root / "docker").mkdir()
    shutil.copy(ROOT / "deploy" / "docker" / "Dockerfile", root / "docker" / "Dockerfile")
    (root / "broken-docker").mkdir()
    (root / "broken-docker" / "Dockerfile").write_text(
        'FROM python:latest\nRUN pip install maily\nCMD ["maily"]\n'
    )
    (root / "k8s").mkdir()
    chart = render(
        overrides=values(
            canary={"enabled": True, "image": {"tag": "0.2.0"}},
            roles={"ai": {"ports": [{"name": "grpc", "containerPort": 50051}]}},
        )
    )
    (root / "k8s" / "maily.yaml").write_text(yaml.safe_dump_all(chart))
    (root / "broken-k8s").mkdir()
    (root / "broken-k8s" / "broken.yaml").write_text(yaml.safe_dump(BROKEN_MANIFEST))
    result = subprocess.run(
        [
            str(CHECKOV),
            "--config-file",
            str(CONFIG),
            "--directory",
            str(root),
            "--framework",
            "terraform",
            "dockerfile",
            "kubernetes",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        # No call home: offline, no version check, no telemetry.
        env={
            **os.environ,
            "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
            "BC_SKIP_MAPPING": "TRUE",
            "CHECKOV_NO_VERSION_CHECK": "1",
        },
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports: Any = json.loads(result.stdout)
    failed: dict[str, dict[str, set[str]]] = {}
    for report in reports if isinstance(reports, list) else [reports]:
        assert report["summary"]["parsing_errors"] == 0, report["check_type"]
        by_file = failed.setdefault(report["check_type"], {})
        for check in report["results"]["failed_checks"]:
            path = Path(check["file_path"].lstrip("/"))
            relative = (
                path.relative_to(root.relative_to("/"))
                if path.is_relative_to(root.relative_to("/"))
                else path
            )
            by_file.setdefault(relative.parts[0], set()).add(check["check_id"])
    return failed


def test_terraform_passes_the_scan(scan: dict[str, dict[str, set[str]]]) -> None:
    assert "terraform" not in scan["terraform"]
    assert "modules" not in scan["terraform"]
    assert "environments" not in scan["terraform"]


def test_the_scan_fails_broken_terraform(scan: dict[str, dict[str, set[str]]]) -> None:
    found = scan["terraform"]["broken-terraform"]
    # Unencrypted, public database; bucket whose public access is not blocked.
    assert {"CKV_AWS_16", "CKV_AWS_17", "CKV_AWS_53"} <= found, found


def test_the_dockerfile_passes_and_a_broken_one_fails(scan: dict[str, dict[str, set[str]]]) -> None:
    assert "docker" not in scan["dockerfile"], scan["dockerfile"].get("docker")
    # No USER, no HEALTHCHECK.
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3"} <= scan["dockerfile"]["broken-docker"]


def test_the_rendered_chart_passes_and_a_privileged_pod_fails(
    scan: dict[str, dict[str, set[str]]],
) -> None:
    assert "k8s" not in scan["kubernetes"], scan["kubernetes"].get("k8s")
    assert "CKV_K8S_16" in scan["kubernetes"]["broken-k8s"]  # privileged container
