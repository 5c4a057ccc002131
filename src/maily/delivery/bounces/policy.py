"""What a bounce or complaint does to an address: pure rules, no SQL.

- hard bounce: suppress (reason hard_bounce), contact 'bounced', delivery 'bounced';
- soft bounce: recorded; the `limit`-th within the window suppresses (soft_bounce)
  and marks the contact 'cleaned';
- complaint: suppress (complaint), contact 'complained', unsubscribed from everything.
A contact's status only moves towards the stronger word: complained > bounced >
cleaned > unsubscribed > subscribed, so a later soft bounce never hides a complaint."""

from __future__ import annotations

from dataclasses import dataclass

from maily.delivery.bounces.feedback import FeedbackKind

# Stronger statuses say more about why a contact is not mailed; they are never replaced
# by weaker ones.
_STRENGTH = {"subscribed": 0, "unsubscribed": 1, "cleaned": 2, "bounced": 3, "complained": 4}


@dataclass(frozen=True, slots=True)
class Decision:
    # recorded | suppressed | cleaned | complained
    effect: str
    suppression_reason: str | None = None
    contact_status: str | None = None
    unsubscribe: bool = False
    mark_delivery_bounced: bool = False


RECORD_ONLY = Decision("recorded")


def decide(kind: FeedbackKind, soft_bounces_in_window: int, limit: int) -> Decision:
    """`soft_bounces_in_window` counts this one too."""
    if kind is FeedbackKind.hard:
        return Decision(
            "suppressed",
            suppression_reason="hard_bounce",
            contact_status="bounced",
            mark_delivery_bounced=True,
        )
    if kind is FeedbackKind.complaint:
        return Decision(
            "complained",
            suppression_reason="complaint",
            contact_status="complained",
            unsubscribe=True,
        )
    if kind is FeedbackKind.soft and soft_bounces_in_window >= limit:
        return Decision("cleaned", suppression_reason="soft_bounce", contact_status="cleaned")
    return RECORD_ONLY


def stronger_status(current: str, proposed: str) -> bool:
    """Whether `proposed` should replace `current` as the contact's status."""
    return _STRENGTH.get(proposed, 0) > _STRENGTH.get(current, 0)
