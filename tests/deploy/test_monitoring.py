"""deploy/monitoring: alert rules and the dashboard read metrics Maily really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql import exported_metrics, expression_problems, recorded_names

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "prometheus" / "maily-rules.yaml"
DASHBOARD = MONITORING / "grafana" / "maily-dashboard.json"


@pytest.fixture(scope="module")
def groups() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return list(document["groups"])


def alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_every_rule_reads_metrics_that_exist(groups: list[dict[str, Any]]) -> None:
    metrics = exported_metrics()
    recorded = recorded_names(groups)
    problems = [
        f"{rule.get('alert') or rule.get('record')}: {problem}"
        for group in groups
        for rule in group["rules"]
        for problem in expression_problems(rule["expr"], metrics, recorded)
    ]
    assert problems == []


def test_a_rule_on_a_missing_metric_or_label_is_caught() -> None:
    metrics = exported_metrics()
    assert expression_problems("rate(maily_messages_sent_total[5m]) > 0", metrics, set()) == [
        "maily_messages_sent_total is not a metric Maily exports"
    ]
    assert expression_problems(
        'sum(maily_transport_messages_total{status="failed"})', metrics, set()
    ) == ["maily_transport_messages_total has no label 'status'"]
    assert expression_problems("maily:nothing:rate5m > 1", metrics, set()) == [
        "maily:nothing:rate5m is not recorded by any rule"
    ]
    assert expression_problems(
        "sum by (trnsport) (maily_transport_messages_total)", metrics, set()
    ) == ["grouping by 'trnsport', a label none of the metrics has"]
    assert expression_problems("sum(rate(maily_role_up[5m])", metrics, set())


def test_the_alerts_the_product_needs_are_there(groups: list[dict[str, Any]]) -> None:
    found = alerts(groups)
    assert {
        "MailySendFailureRateHigh",
        "MailyBounceRateHigh",
        "MailyBounceRateCritical",
        "MailyComplaintRateHigh",
        "MailyComplaintRateCritical",
        "MailyLedgerBacklogGrowing",
        "MailyConsumerLagHigh",
        "MailyCircuitBreakerOpen",
        "MailyTrackingEventsLost",
        "MailyTrackingDown",
        "MailyWebhooksDown",
        "MailyAITasksFailing",
    } <= set(found)
    for name, rule in found.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["description"], name
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name


def threshold(rule: dict[str, Any], recorded: str) -> float:
    match = re.search(re.escape(recorded) + r"\s*>\s*([0-9.]+)", rule["expr"])
    assert match, rule["expr"]
    return float(match.group(1))


def test_complaint_and_bounce_thresholds_follow_the_mailbox_providers(
    groups: list[dict[str, Any]],
) -> None:
    found = alerts(groups)
    # Gmail and Yahoo: spam complaints under 0.3%, aim for 0.1%.
    assert threshold(found["MailyComplaintRateCritical"], "maily:complaint_ratio:24h") == 0.003
    assert threshold(found["MailyComplaintRateHigh"], "maily:complaint_ratio:24h") == 0.001
    assert threshold(found["MailyBounceRateHigh"], "maily:bounce_ratio:1h") == 0.02
    assert threshold(found["MailyBounceRateCritical"], "maily:bounce_ratio:1h") == 0.05
    # An open breaker is state 2 of maily_circuit_breaker_state.
    assert "== 2" in found["MailyCircuitBreakerOpen"]["expr"]


def test_the_dashboard_reads_metrics_that_exist(groups: list[dict[str, Any]]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    metrics = exported_metrics()
    recorded = recorded_names(groups)
    targets = [t for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(targets) >= 15
    problems = [p for t in targets for p in expression_problems(t["expr"], metrics, recorded)]
    assert problems == []
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "maily-overview"


def test_alertmanager_routes_every_severity_and_keeps_urls_out() -> None:
    config = yaml.safe_load((MONITORING / "alertmanager" / "alertmanager.yaml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    routed = {route["receiver"] for route in config["route"]["routes"]} | {
        config["route"]["receiver"]
    }
    assert routed <= set(receivers)
    for receiver in receivers.values():
        for hook in receiver.get("webhook_configs", []):
            assert "url" not in hook
            assert "url_file" in hook
