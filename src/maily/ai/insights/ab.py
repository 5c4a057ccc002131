"""Is an A/B test's leader really better? Two-proportion tests on human unique opens and
clicks per message sent, with a plain verdict.

For each metric the variant with the best rate is compared with each other variant:
a two-sided two-proportion z-test (pooled standard error) gives the p-value, and the
Bayesian probability that the leader's true rate beats the other's (Beta(1, 1)
priors, normal approximation of the difference). A difference is significant at
95 % confidence (p < 0.05). When it is not, the verdict says roughly how many more
recipients per variant would show the difference seen so far at 95 % confidence with
80 % power — an estimate that moves as results come in.

Standard library only: the normal distribution is math.erf."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from maily.campaigns.ab import pick_winner, rate

Metric = Literal["opens", "clicks"]
ALPHA = 0.05
Z_ALPHA = 1.959964  # two-sided 95 %
Z_POWER = 0.841621  # 80 % power
MIN_SENT = 30  # fewer messages per variant than this say nothing yet


@dataclass(frozen=True, slots=True)
class Arm:
    name: str
    sent: int
    hits: int

    @property
    def rate(self) -> float:
        return rate(self.sent, self.hits)


@dataclass(frozen=True, slots=True)
class Comparison:
    leader: str
    other: str
    metric: Metric
    leader_rate: float
    other_rate: float
    p_value: float | None
    confidence: float | None  # 1 - p
    probability_to_beat: float | None
    significant: bool
    more_recipients_per_variant: int | None
    verdict: str


def normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def two_proportion_p_value(a: Arm, b: Arm) -> float | None:
    """Two-sided p-value of H0: equal rates; None when it is undefined."""
    if a.sent == 0 or b.sent == 0:
        return None
    pooled = (a.hits + b.hits) / (a.sent + b.sent)
    variance = pooled * (1 - pooled) * (1 / a.sent + 1 / b.sent)
    if variance <= 0:
        return 1.0  # no hits at all, or nothing but hits: no difference to see
    z = (a.rate - b.rate) / math.sqrt(variance)
    return min(1.0, 2 * (1 - normal_cdf(abs(z))))


def probability_to_beat(a: Arm, b: Arm) -> float:
    """P(rate of a > rate of b) under Beta(1 + hits, 1 + misses) posteriors."""

    def moments(arm: Arm) -> tuple[float, float]:
        alpha, beta = 1 + arm.hits, 1 + arm.sent - arm.hits
        total = alpha + beta
        return alpha / total, alpha * beta / (total**2 * (total + 1))

    mean_a, var_a = moments(a)
    mean_b, var_b = moments(b)
    return normal_cdf((mean_a - mean_b) / math.sqrt(var_a + var_b))


def recipients_needed(p1: float, p2: float) -> int | None:
    """Per variant, to tell rates p1 and p2 apart (95 % two-sided, 80 % power)."""
    if p1 == p2:
        return None
    mean = (p1 + p2) / 2
    root = Z_ALPHA * math.sqrt(2 * mean * (1 - mean)) + Z_POWER * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil(root**2 / (p1 - p2) ** 2)


def _percent(x: float) -> str:
    return f"{x:.0%}" if x < 0.99 else f"{math.floor(x * 1000) / 10:g}%"


def compare(leader: Arm, other: Arm, metric: Metric) -> Comparison:
    enough = min(leader.sent, other.sent) >= MIN_SENT
    p = two_proportion_p_value(leader, other) if enough else None
    beat = probability_to_beat(leader, other) if enough else None
    significant = p is not None and p < ALPHA and leader.rate > other.rate
    more: int | None = None
    if significant and p is not None:
        verdict = f"{leader.name} beats {other.name} on {metric} at {_percent(1 - p)} confidence"
    elif not enough:
        more = MIN_SENT - min(leader.sent, other.sent)
        verdict = (
            f"not enough sent yet to compare {leader.name} and {other.name} "
            f"(at least {MIN_SENT} each)"
        )
    else:
        needed = recipients_needed(leader.rate, other.rate)
        if needed is None:
            verdict = f"no difference between {leader.name} and {other.name} on {metric} so far"
        else:
            more = max(0, needed - min(leader.sent, other.sent))
            verdict = f"not significant yet; need ~{more:,} more recipients per variant"
    return Comparison(
        leader=leader.name,
        other=other.name,
        metric=metric,
        leader_rate=round(leader.rate, 4),
        other_rate=round(other.rate, 4),
        p_value=round(p, 4) if p is not None else None,
        confidence=round(1 - p, 4) if p is not None else None,
        probability_to_beat=round(beat, 4) if beat is not None else None,
        significant=significant,
        more_recipients_per_variant=more,
        verdict=verdict,
    )


def compare_all(arms: Mapping[str, Arm], metric: Metric) -> list[Comparison]:
    """The leader (best rate; ties to the earlier name) against each other arm."""
    if len(arms) < 2:
        return []
    names = sorted(arms)
    leader = pick_winner(names, {name: (arm.sent, arm.hits) for name, arm in arms.items()})
    return [compare(arms[leader], arms[name], metric) for name in names if name != leader]
