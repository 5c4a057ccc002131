"""A/B tests: how variants are stored, and how the winner is picked from engagement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maily.campaigns.schemas import VARIANT_NAMES, ABTestIn

# The winner metric and the event type it counts (models/event.py).
METRIC_EVENTS = {"opens": "open", "clicks": "click"}


def stored_ab_test(body: ABTestIn) -> dict[str, Any]:
    """The JSON kept in campaigns.ab_test; variants are named A, B, … in order."""
    return {
        "variants": [
            {
                "name": VARIANT_NAMES[i],
                "subject": v.subject,
                "template_id": str(v.template_id) if v.template_id else None,
            }
            for i, v in enumerate(body.variants)
        ],
        "test_percent": body.test_percent,
        "metric": body.metric,
        "wait_minutes": body.wait_minutes,
    }


def variant_names(ab_test: Mapping[str, Any]) -> list[str]:
    return [v["name"] for v in ab_test["variants"]]


def rate(sent: int, engaged: int) -> float:
    return engaged / sent if sent else 0.0


def pick_winner(names: list[str], stats: Mapping[str, tuple[int, int]]) -> str:
    """The variant with the best engagement rate (engaged / sent); a tie goes to
    the earlier variant, so no engagement at all picks A."""
    return max(names, key=lambda name: (rate(*stats.get(name, (0, 0))), -names.index(name)))
