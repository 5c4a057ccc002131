"""Terraform: every file parses, the example environment fits its modules, and its
`helm_values` output is a values file the chart renders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.kube import render, schema_problems
from tests.deploy.settings_names import unknown
from tests.deploy.terraform import (
    EXAMPLE,
    MODULES,
    TERRAFORM,
    Module,
    helm_values_of,
    parse_dir,
    unquote,
    wiring_problems,
)

MODULE_NAMES = {"network", "eks", "rds", "elasticache", "s3", "iam-ses"}


def test_every_file_parses_and_every_module_is_there() -> None:
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 20
    for folder in {path.parent for path in files}:
        parse_dir(folder)
    assert {path.name for path in MODULES.iterdir() if path.is_dir()} == MODULE_NAMES


def test_modules_document_their_variables_and_outputs() -> None:
    for name in MODULE_NAMES:
        module = Module.load(MODULES / name)
        assert module.outputs, name
        for variable, body in {**module.variables, **module.outputs}.items():
            assert body.get("description"), f"{name}: {variable} has no description"


def test_the_example_environment_fits_its_modules() -> None:
    assert wiring_problems(EXAMPLE) == []


def test_a_call_that_does_not_fit_its_module_is_caught(tmp_path: Path) -> None:
    environment = tmp_path / "environments" / "broken"
    shutil.copytree(EXAMPLE, environment)
    shutil.copytree(MODULES, tmp_path / "modules")
    main = environment / "main.tf"
    text = main.read_text()
    text = text.replace(
        "  auth_token                = var.redis_auth_token\n",
        "  auth_tokn = var.redis_auth_token\n",
    )
    text = text.replace("module.eks.oidc_issuer", "module.eks.oidc_issuer_url")
    main.write_text(text)
    assert wiring_problems(environment) == [
        "module elasticache: auth_tokn is not a variable of elasticache",
        "module elasticache: required auth_token is not given",
        "module.eks.oidc_issuer_url is not an output of eks",
    ]


def test_the_environment_outputs_feed_the_helm_chart() -> None:
    values = helm_values_of(EXAMPLE)
    assert values["postgresql"]["host"] == "<module.rds.address>"
    assert values["redis"]["tls"] is True
    assert values["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "<module.iam_ses.role_arn>"
    }
    documents = render(overrides=values)
    assert schema_problems(documents) == []
    api = next(
        d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "maily-api"
    )
    env = {
        e["name"]: e.get("value") for e in api["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MAILY_TRANSPORT"] == "ses"
    assert unknown(set(env)) == set()
    assert env["MAILY_DATABASE_URL"].endswith(
        "@<module.rds.address>:<module.rds.port>/<module.rds.database_name>?ssl=require"
    )


@pytest.mark.parametrize("name", sorted(MODULE_NAMES))
def test_modules_pin_their_providers(name: str) -> None:
    (terraform,) = parse_dir(MODULES / name)["terraform"]
    providers = terraform["required_providers"][0]
    assert unquote(providers["aws"]["source"]) == "hashicorp/aws"
    assert "<" in providers["aws"]["version"]
