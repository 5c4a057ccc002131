"""Static checks of PromQL in Maily's rules and dashboard: every metric and label exists.

There is no PromQL parser to be had offline, so the check reads selectors with a regular
expression: a `maily_*` name, optionally followed by `{label matchers}`; `maily:*` names
must be recorded by a rule of the same file. That is enough to catch renamed metrics,
typos and labels a metric does not have, which are what breaks rules silently.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import REGISTRY

# The modules that declare Maily's metrics (importing one registers its metrics).
METRIC_MODULES = (
    "maily.kit.metrics",
    "maily.kit.resilience",
    "maily.delivery.sender",
    "maily.campaigns.scheduler",
    "maily.analytics.stream",
    "maily.ops.backlog",
    "maily.tracking.metrics",
    "maily.ai.server",
    "maily.ai.providers.usage",
    "maily.webhooks.delivering",
)
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset(
    {"job", "instance", "namespace", "pod", "service", "container", "endpoint", "le"}
)

_SELECTOR = re.compile(r"\b(maily[_:][a-zA-Z0-9_:]*)(\{[^}]*\})?")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def exported_metrics() -> dict[str, frozenset[str]]:
    """Every sample name Maily exports (`_total`, `_bucket`, ... included) -> its labels."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    found: dict[str, frozenset[str]] = {}
    # The registry's own index of sample names; labels come from each collector.
    for name, collector in REGISTRY._names_to_collectors.items():
        if name.startswith("maily_"):
            labels = frozenset(getattr(collector, "_labelnames", ()))
            if name.endswith("_info"):
                labels |= {"version"}
            found[name] = labels
    return found


def recorded_names(groups: Iterable[Mapping[str, Any]]) -> set[str]:
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def expression_problems(
    expr: str, metrics: Mapping[str, frozenset[str]], recorded: set[str]
) -> list[str]:
    problems: list[str] = []
    if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
        problems.append(f"unbalanced brackets in {expr!r}")
    # Grouping labels must exist on at least one metric the expression reads.
    seen_labels: set[str] = set()
    for name, matchers in _SELECTOR.findall(_TEMPLATE.sub("", expr)):
        if ":" in name:
            if name not in recorded:
                problems.append(f"{name} is not recorded by any rule")
            continue
        if name not in metrics:
            problems.append(f"{name} is not a metric Maily exports")
            continue
        labels = metrics[name] | TARGET_LABELS
        seen_labels |= labels
        for label in _MATCHER.findall(matchers or ""):
            if label not in labels:
                problems.append(f"{name} has no label {label!r}")
    for grouping in _GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in grouping.split(","))):
            if seen_labels and label not in seen_labels:
                problems.append(f"grouping by {label!r}, a label none of the metrics has")
    return problems
