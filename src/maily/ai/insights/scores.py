"""A contact's engagement score and churn risk, from the messages sent to them.

Both read the same history: each message sent, and whether a person (not a machine)
opened it and clicked in it. Below MIN_MESSAGES messages in the look-back there is not
enough to say anything, and the answer says so instead of guessing.

- Engagement score (0-100): the open rate and the click rate over the history, each
  message weighted by its age (a half-life of HALF_LIFE_DAYS days, so last month counts
  more than last year), as 100 * (0.6 * open rate + 0.4 * min(1, 2 * click rate));
  clicks count double because click rates run at about half of open rates even for
  keen readers.
- Churn risk (0-1): how unlikely the contact's current silence is for them. With p
  their own open-or-click rate over the whole history (a Beta(1, 1) prior), k messages
  in a row unanswered happen by chance with probability (1 - p)^k; the risk is 1 minus
  that. A reader who opens one in three is at 0.33 after one silent message and 0.91
  after six. A contact who unsubscribed, bounced or complained has churned."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

MIN_MESSAGES = 5
HALF_LIFE_DAYS = 60.0
GONE = ("unsubscribed", "bounced", "complained", "cleaned")

ScoreStatus = Literal["ok", "insufficient_data", "churned"]
RiskLevel = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class Message:
    sent_at: datetime
    opened: bool
    clicked: bool


@dataclass(frozen=True, slots=True)
class Engagement:
    status: ScoreStatus
    messages: int  # messages sent in the look-back
    min_messages: int  # below this, status is insufficient_data
    score: float | None = None  # 0-100
    open_rate: float | None = None  # decayed
    click_rate: float | None = None  # decayed
    churn_risk: float | None = None  # 0-1
    risk_level: RiskLevel | None = None
    unanswered_in_a_row: int | None = None
    # When the last message they opened or clicked was sent.
    last_engaged_message_sent_at: datetime | None = None
    reason: str = ""


def risk_level(risk: float) -> RiskLevel:
    return "low" if risk < 0.5 else "medium" if risk < 0.85 else "high"


def engagement(
    messages: Sequence[Message], now: datetime, status: str = "subscribed"
) -> Engagement:
    """The score and risk of one contact; `messages` in any order."""
    ordered = sorted(messages, key=lambda m: m.sent_at)
    n = len(ordered)
    if status in GONE:
        return Engagement(
            status="churned",
            messages=n,
            min_messages=MIN_MESSAGES,
            churn_risk=1.0,
            risk_level="high",
            reason=f"the contact is {status}",
        )
    if n < MIN_MESSAGES:
        return Engagement(
            status="insufficient_data",
            messages=n,
            min_messages=MIN_MESSAGES,
            reason=f"{n} message(s) sent; a score needs at least {MIN_MESSAGES}",
        )
    weight_sum = opened = clicked = 0.0
    for message in ordered:
        age_days = max(0.0, (now - message.sent_at).total_seconds() / 86400)
        weight = math.pow(0.5, age_days / HALF_LIFE_DAYS)
        weight_sum += weight
        opened += weight * message.opened
        clicked += weight * message.clicked
    open_rate = opened / weight_sum
    click_rate = clicked / weight_sum
    score = 100 * (0.6 * open_rate + 0.4 * min(1.0, 2 * click_rate))

    engaged = [m for m in ordered if m.opened or m.clicked]
    answered_rate = (len(engaged) + 1) / (n + 2)
    silent = 0
    for message in reversed(ordered):
        if message.opened or message.clicked:
            break
        silent += 1
    risk = 1 - math.pow(1 - answered_rate, silent)
    return Engagement(
        status="ok",
        messages=n,
        min_messages=MIN_MESSAGES,
        score=round(score, 1),
        open_rate=round(open_rate, 4),
        click_rate=round(click_rate, 4),
        churn_risk=round(risk, 4),
        risk_level=risk_level(risk),
        unanswered_in_a_row=silent,
        last_engaged_message_sent_at=engaged[-1].sent_at if engaged else None,
    )
