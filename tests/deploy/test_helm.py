"""The Helm chart: lint, render offline, validate against Kubernetes schemas, and what it must hold."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from maily.config import Settings
from maily.kit.roles import ROLE_PORT_OFFSETS, health_port_for
from tests.deploy.kube import (
    containers,
    copy_chart,
    lint_errors,
    of_kind,
    render,
    schema_problems,
    values,
)
from tests.deploy.settings_names import unknown

ROLES = (
    "api",
    "worker",
    "sender",
    "scheduler",
    "analytics",
    "ai",
    "inbound",
    "webhooks",
    "tracking",
)
# Values that turn on every optional part at once.
EVERYTHING = values(
    canary={"enabled": True, "image": {"tag": "0.2.0"}, "weight": 20},
    roles={
        "ai": {"ports": [{"name": "grpc", "containerPort": 50051}]},
        "inbound": {"ports": [{"name": "smtp", "containerPort": 2525, "servicePort": 25}]},
    },
    s3={"endpointUrl": "https://s3.example.net", "credentialsSecret": {"name": "maily-s3"}},
    secrets={
        "extraEnv": [
            {
                "name": "MAILY_SMTP__PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "smtp", "key": "password"}},
            }
        ]
    },
)


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return render()


def by_name(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in of_kind(documents, kind)}


def test_chart_lints_clean_in_strict_mode() -> None:
    assert lint_errors() == []
    assert lint_errors(overrides=EVERYTHING) == []


@pytest.mark.parametrize("overrides", [values(), EVERYTHING], ids=["defaults", "everything"])
def test_rendered_manifests_match_the_kubernetes_schemas(overrides: dict[str, Any]) -> None:
    documents = render(overrides=overrides)
    assert len(documents) > 30
    assert schema_problems(documents) == []


def test_a_manifest_with_a_wrong_type_is_caught(manifests: list[dict[str, Any]]) -> None:
    deployment = next(of_kind(manifests, "Deployment"))
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    problems = schema_problems([broken])
    assert problems
    assert all("'two' is not of type 'integer'" in p for p in problems), problems


def test_a_template_with_an_unknown_field_is_caught(tmp_path: Path) -> None:
    chart = copy_chart(tmp_path)
    pdb = chart / "templates" / "pdb.yaml"
    pdb.write_text(pdb.read_text().replace("minAvailable:", "minAvailabel:"))
    problems = schema_problems(render(chart))
    assert problems
    assert all("PodDisruptionBudget" in p and "minAvailabel" in p for p in problems), problems


def test_a_template_that_does_not_parse_fails_lint(tmp_path: Path) -> None:
    chart = copy_chart(tmp_path)
    (chart / "templates" / "broken.yaml").write_text("kind: ConfigMap\n{{- if .Values.x }}\n")
    errors = lint_errors(chart)
    assert any("broken.yaml" in e for e in errors), errors


def test_each_role_is_a_deployment_running_its_command(manifests: list[dict[str, Any]]) -> None:
    deployments = by_name(manifests, "Deployment")
    assert set(deployments) == {f"maily-{role}" for role in ROLES}
    for role in ROLES:
        (container,) = containers(deployments[f"maily-{role}"])
        assert container["args"] == [role]
        assert container["image"] == "maily:0.1.0"
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]


def test_probes_use_the_health_port_each_role_serves(manifests: list[dict[str, Any]]) -> None:
    settings = Settings(roles={"health_base_port": 9100})
    assert set(ROLE_PORT_OFFSETS) == set(ROLES) - {"api"}
    for name, deployment in by_name(manifests, "Deployment").items():
        role = name.removeprefix("maily-")
        port = settings.api.port if role == "api" else health_port_for(role, settings)
        (container,) = containers(deployment)
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert port in {p["containerPort"] for p in container["ports"]}
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MAILY_ROLES__HEALTH_HOST"] == "0.0.0.0"
        assert env["MAILY_ROLE"] == role


def test_pods_run_as_non_root_with_a_read_only_root(manifests: list[dict[str, Any]]) -> None:
    for doc in [*of_kind(manifests, "Deployment"), *of_kind(manifests, "Job")]:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in containers(doc):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_autoscalers_and_disruption_budgets(manifests: list[dict[str, Any]]) -> None:
    hpas = by_name(manifests, "HorizontalPodAutoscaler")
    assert set(hpas) == {
        "maily-api",
        "maily-sender",
        "maily-worker",
        "maily-analytics",
        "maily-webhooks",
        "maily-tracking",
    }
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
    # A Deployment an HPA scales leaves replicas to it.
    for name, deployment in by_name(manifests, "Deployment").items():
        assert ("replicas" in deployment["spec"]) == (name not in hpas)
    pdbs = by_name(manifests, "PodDisruptionBudget")
    assert {
        "maily-api",
        "maily-sender",
        "maily-worker",
        "maily-scheduler",
        "maily-tracking",
    } <= set(pdbs)


def test_migrations_run_as_a_hook_before_install_and_upgrade(
    manifests: list[dict[str, Any]],
) -> None:
    (job,) = of_kind(manifests, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    (container,) = containers(job)
    assert container["args"] == ["migrate"]
    # A pre-install hook runs before the release's own objects exist: settings inline.
    assert "envFrom" not in container
    assert any(e["name"] == "MAILY_DATABASE_URL" for e in container["env"])


SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEYS?$|API_KEY")


def test_secrets_are_only_referenced(manifests: list[dict[str, Any]]) -> None:
    documents = render(overrides=EVERYTHING)
    assert not list(of_kind(documents, "Secret"))
    for doc in [*of_kind(documents, "Deployment"), *of_kind(documents, "Job")]:
        for container in containers(doc):
            for env in container["env"]:
                if (
                    SECRET_NAME.search(env["name"])
                    and env["name"] != "MAILY_STORAGE__S3_ACCESS_KEY_ID"
                ):
                    assert "valueFrom" in env, (
                        f"{doc['metadata']['name']}: {env['name']} has a literal value"
                    )
            urls = {
                e["name"]: e["value"]
                for e in container["env"]
                if e["name"].endswith("_URL") and "value" in e
            }
            assert urls["MAILY_DATABASE_URL"] == (
                "postgresql://maily:$(MAILY_PG_PASSWORD)@maily.abc123.eu-west-1.rds.amazonaws.com:5432/maily"
            )
            assert urls["MAILY_REDIS_URL"] == (
                "rediss://:$(MAILY_REDIS_PASSWORD)@master.maily.abc123.euw1.cache.amazonaws.com:6379/0"
            )
            names = [e["name"] for e in container["env"]]
            # $(VAR) expands only from variables defined earlier in the list.
            assert names.index("MAILY_PG_PASSWORD") < names.index("MAILY_DATABASE_URL")
            assert names.index("MAILY_REDIS_PASSWORD") < names.index("MAILY_REDIS_URL")


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"secrets": {"existingSecret": ""}}, "secrets.existingSecret is required"),
        ({"postgresql": {"host": ""}}, "postgresql.host is required"),
        ({"redis": {"host": ""}}, "redis.host is required"),
        ({"s3": {"bucket": ""}}, "s3.bucket is required"),
        ({"canary": {"enabled": True}}, "canary.image.tag is required"),
    ],
)
def test_required_values_are_refused_when_missing(missing: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render(overrides=values(**missing))


def test_the_api_canary_takes_a_share_of_traffic() -> None:
    assert not [d for d in render() if "canary" in d["metadata"]["name"]]
    documents = render(overrides=EVERYTHING)
    canary = by_name(documents, "Deployment")["maily-api-canary"]
    (container,) = containers(canary)
    assert container["image"] == "maily:0.2.0"
    assert canary["spec"]["selector"]["matchLabels"]["maily.io/track"] == "canary"
    ingress = by_name(documents, "Ingress")["maily-api-canary"]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"] == "true"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "20"
    # The stable Service must not send its share to canary pods.
    assert (
        by_name(documents, "Service")["maily-api"]["spec"]["selector"]["maily.io/track"] == "stable"
    )


def test_ingress_serves_the_api_over_tls(manifests: list[dict[str, Any]]) -> None:
    ingress = by_name(manifests, "Ingress")["maily"]
    assert ingress["spec"]["tls"] == [{"hosts": ["maily.example.com"], "secretName": "maily-tls"}]
    paths = {p["path"]: p for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/"]["backend"]["service"] == {"name": "maily-api", "port": {"name": "http"}}


def test_ingress_sends_the_public_tracking_paths_to_the_tracking_role(
    manifests: list[dict[str, Any]],
) -> None:
    ingress = by_name(manifests, "Ingress")["maily"]
    paths = {p["path"]: p for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert set(paths) == {"/", "/t", "/u", "/p", "/v"}
    for path in ("/t", "/u", "/p", "/v"):
        assert paths[path]["pathType"] == "Prefix"
        assert paths[path]["backend"]["service"] == {
            "name": "maily-tracking",
            "port": {"name": "http"},
        }
    service = by_name(manifests, "Service")["maily-tracking"]
    assert {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"} in service["spec"][
        "ports"
    ]
    (container,) = containers(by_name(manifests, "Deployment")["maily-tracking"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    port = int(env["MAILY_TRACKING__PORT"])
    assert port == Settings().tracking.port
    assert env["MAILY_TRACKING__HOST"] == "0.0.0.0"
    assert {"name": "http", "containerPort": port, "protocol": "TCP"} in container["ports"]
    # The ingress controller may reach the tracking port; nothing else but Prometheus.
    policy = by_name(manifests, "NetworkPolicy")["maily-tracking"]
    sources = {rule["ports"][0]["port"]: rule["from"][0] for rule in policy["spec"]["ingress"]}
    assert sources["http"] == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    }


def test_without_the_tracking_role_the_api_serves_every_path() -> None:
    documents = render(overrides=values(roles={"tracking": {"enabled": False}}))
    ingress = by_name(documents, "Ingress")["maily"]
    (only,) = ingress["spec"]["rules"][0]["http"]["paths"]
    assert only["path"] == "/"
    assert only["backend"]["service"]["name"] == "maily-api"
    assert "maily-tracking" not in by_name(documents, "Service")


def test_prometheus_scrapes_every_role(manifests: list[dict[str, Any]]) -> None:
    (monitor,) = of_kind(manifests, "ServiceMonitor")
    scraped_ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    selector = monitor["spec"]["selector"]["matchLabels"]
    for service in of_kind(manifests, "Service"):
        labels = service["metadata"]["labels"]
        assert all(labels[k] == v for k, v in selector.items())
        assert scraped_ports & {p["name"] for p in service["spec"]["ports"]}


def test_network_policies_cover_every_role(manifests: list[dict[str, Any]]) -> None:
    policies = by_name(manifests, "NetworkPolicy")
    assert set(policies) == {f"maily-{role}" for role in (*ROLES, "migrate")}
    assert "ingress" not in policies["maily-migrate"]["spec"]
    api_sources = [rule["from"][0] for rule in policies["maily-api"]["spec"]["ingress"]]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    } in api_sources
    # The sender takes no traffic but Prometheus's.
    (only,) = policies["maily-sender"]["spec"]["ingress"]
    assert only["ports"] == [{"port": "metrics"}]
    # Only the webhook dispatcher, which calls customer URLs, has its egress limited.
    limited = {name for name, p in policies.items() if "Egress" in p["spec"]["policyTypes"]}
    assert limited == {"maily-webhooks"}


def test_webhooks_reach_public_https_but_no_private_address(
    manifests: list[dict[str, Any]],
) -> None:
    policy = by_name(manifests, "NetworkPolicy")["maily-webhooks"]
    egress = policy["spec"]["egress"]
    https = [rule for rule in egress if {"port": 443, "protocol": "TCP"} in rule["ports"]]
    (rule,) = https
    blocks = {b["ipBlock"]["cidr"]: set(b["ipBlock"].get("except", [])) for b in rule["to"]}
    assert set(blocks) == {"0.0.0.0/0", "::/0"}
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= blocks[
        "0.0.0.0/0"
    ]
    assert {"fc00::/7", "fe80::/10", "::1/128"} <= blocks["::/0"]
    # Every other rule is a fixed port without a destination: DNS and the two stores.
    others = {(p["port"], p["protocol"]) for r in egress if r is not rule for p in r["ports"]}
    assert others == {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (6379, "TCP")}
    assert all("to" not in r for r in egress if r is not rule)
    # The limit can be lifted for a cluster with its own egress gateway.
    documents = render(overrides=values(networkPolicy={"webhooksEgress": {"enabled": False}}))
    lifted = by_name(documents, "NetworkPolicy")["maily-webhooks"]
    assert lifted["spec"]["policyTypes"] == ["Ingress"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"roles": {"api": {"replicas": "two"}}},
            "at '/roles/api/replicas': got string, want integer",
        ),
        ({"ingres": {"host": "x"}}, "additional properties 'ingres' not allowed"),
        (
            {"roles": {"mailer": {"enabled": True}}},
            "at '/roles': additional properties 'mailer' not allowed",
        ),
        ({"canary": {"weight": 150}}, "at '/canary/weight': maximum: got 150, want 100"),
        ({"image": {"digest": "latest"}}, "at '/image/digest'"),
    ],
)
def test_values_the_schema_refuses(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        render(overrides=values(**bad))


def test_every_variable_the_chart_sets_is_a_real_setting() -> None:
    documents = render(overrides=EVERYTHING)
    names = {
        env["name"]
        for doc in [*of_kind(documents, "Deployment"), *of_kind(documents, "Job")]
        for container in containers(doc)
        for env in container["env"]
    }
    assert unknown(names) == set()
