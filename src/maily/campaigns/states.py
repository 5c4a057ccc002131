"""The campaign state machine, as data: every legal move and the action that makes it."""

from __future__ import annotations

from enum import StrEnum

from maily.kit.errors import Conflict


class CampaignStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    sending = "sending"
    paused = "paused"
    sent = "sent"
    cancelled = "cancelled"
    failed = "failed"


S = CampaignStatus

# (from, to) -> the action that moves a campaign so. Nothing else is allowed.
TRANSITIONS: dict[tuple[CampaignStatus, CampaignStatus], str] = {
    (S.draft, S.scheduled): "start",
    (S.scheduled, S.draft): "unschedule",
    (S.scheduled, S.cancelled): "cancel",
    # The scheduler: the start time came, the ledger was made.
    (S.scheduled, S.sending): "begin",
    (S.scheduled, S.failed): "fail",
    (S.sending, S.paused): "pause",
    (S.sending, S.cancelled): "cancel",
    # The scheduler: every delivery reached a final state.
    (S.sending, S.sent): "finish",
    (S.sending, S.failed): "fail",
    (S.paused, S.sending): "resume",
    (S.paused, S.cancelled): "cancel",
}

TERMINAL = frozenset({S.sent, S.cancelled, S.failed})
# States whose content and audience may still be edited.
EDITABLE = frozenset({S.draft})
DELETABLE = frozenset({S.draft, S.cancelled, S.failed})
# States in which an A/B winner may be picked.
DECIDABLE = frozenset({S.sending, S.paused, S.sent})


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, current: CampaignStatus, target: CampaignStatus) -> None:
        super().__init__(
            f"a campaign cannot go from {current.value} to {target.value}",
            details=[{"from": current.value, "to": target.value}],
        )
        self.current = current
        self.target = target


def is_legal(current: CampaignStatus | str, target: CampaignStatus | str) -> bool:
    return (CampaignStatus(current), CampaignStatus(target)) in TRANSITIONS


def require(current: CampaignStatus | str, target: CampaignStatus | str) -> None:
    """Raise IllegalTransition (409, naming both states) unless the move is legal."""
    if not is_legal(current, target):
        raise IllegalTransition(CampaignStatus(current), CampaignStatus(target))


def targets_of(current: CampaignStatus | str) -> list[CampaignStatus]:
    return [to for (frm, to) in TRANSITIONS if frm == CampaignStatus(current)]
