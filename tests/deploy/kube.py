"""Offline Helm and Kubernetes checks: render the chart, validate every manifest."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, validate

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "maily"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) has the strictest
# schema set of the ones we target; the newest shows removed APIs.
KUBE_VERSIONS = ("1.29", "1.34")

# The values an operator must give: the stores are external, secrets by reference.
REQUIRED_VALUES: dict[str, Any] = {
    "secrets": {"existingSecret": "maily-secrets"},
    "postgresql": {
        "host": "maily.abc123.eu-west-1.rds.amazonaws.com",
        "passwordSecret": {"name": "maily-db"},
    },
    "redis": {
        "host": "master.maily.abc123.euw1.cache.amazonaws.com",
        "tls": True,
        "passwordSecret": {"name": "maily-redis"},
    },
    "s3": {"bucket": "maily-objects", "region": "eu-west-1"},
}

# Custom resources have no schema in the Kubernetes set; their required fields are
# checked here instead.
CUSTOM_RESOURCE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "monitoring.coreos.com/v1/ServiceMonitor": ("selector", "endpoints"),
}


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def values(**extra: Any) -> dict[str, Any]:
    return deep_merge(REQUIRED_VALUES, extra)


def render(chart: Path = CHART, overrides: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every manifest the chart renders for an install (hooks included), as dicts."""
    rendered = helm.Chart.load(chart).render(
        dict(overrides or values()), name="maily", namespace="maily", is_install=True
    )
    documents: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        documents.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return documents


def schema_problems(documents: list[dict[str, Any]]) -> list[str]:
    """What the Kubernetes schemas (strict: unknown fields too) say about each manifest."""
    problems: list[str] = []
    for doc in documents:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        key = f"{doc.get('apiVersion')}/{doc.get('kind')}"
        if key in CUSTOM_RESOURCE_FIELDS:
            missing = [f for f in CUSTOM_RESOURCE_FIELDS[key] if f not in doc.get("spec", {})]
            problems.extend(f"{name}: spec.{f} is missing" for f in missing)
            continue
        for version in KUBE_VERSIONS:
            try:
                validate(doc, version, strict=True)
            except SchemaNotFoundError as exc:
                problems.append(f"{name}: {exc.message}")
            except Exception as exc:  # jsonschema's ValidationError and friends
                problems.append(f"{name} (Kubernetes {version}): {getattr(exc, 'message', exc)}")
    return problems


def lint_errors(chart: Path = CHART, overrides: Mapping[str, Any] | None = None) -> list[str]:
    """helm lint --strict: errors and warnings (info messages such as 'icon is recommended'
    are left out)."""
    report = helm.lint(chart, dict(overrides or values()), strict=True)
    return [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]


def copy_chart(destination: Path) -> Path:
    target = destination / "maily"
    shutil.copytree(CHART, target)
    return target


def of_kind(documents: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (doc for doc in documents if doc["kind"] == kind)


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])
