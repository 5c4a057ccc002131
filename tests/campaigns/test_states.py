"""The campaign state machine: exactly the moves in the table are legal."""

from __future__ import annotations

import itertools

import pytest

from maily.campaigns.ab import pick_winner
from maily.campaigns.states import (
    TERMINAL,
    TRANSITIONS,
    CampaignStatus,
    IllegalTransition,
    is_legal,
    require,
    targets_of,
)

S = CampaignStatus
LEGAL = {
    (S.draft, S.scheduled),
    (S.scheduled, S.draft),
    (S.scheduled, S.sending),
    (S.scheduled, S.cancelled),
    (S.scheduled, S.failed),
    (S.sending, S.paused),
    (S.sending, S.sent),
    (S.sending, S.cancelled),
    (S.sending, S.failed),
    (S.paused, S.sending),
    (S.paused, S.cancelled),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_pair_of_states_is_legal_only_if_listed(
    current: CampaignStatus, target: CampaignStatus
) -> None:
    assert is_legal(current, target) is ((current, target) in LEGAL)
    if (current, target) in LEGAL:
        require(current, target)
    else:
        with pytest.raises(IllegalTransition) as raised:
            require(current, target)
        assert raised.value.status_code == 409
        assert raised.value.message == (
            f"a campaign cannot go from {current.value} to {target.value}"
        )
        assert raised.value.details == [{"from": current.value, "to": target.value}]


def test_the_table_is_the_whole_truth() -> None:
    assert set(TRANSITIONS) == LEGAL
    for state in TERMINAL:
        assert targets_of(state) == [], f"{state} is final"
    assert targets_of(S.paused) == [S.sending, S.cancelled]


def test_the_winner_is_the_best_rate_and_ties_go_to_the_first() -> None:
    names = ["A", "B", "C"]
    assert pick_winner(names, {"A": (100, 10), "B": (50, 10), "C": (10, 1)}) == "B"
    assert pick_winner(names, {"A": (100, 10), "B": (100, 10)}) == "A"
    assert pick_winner(names, {}) == "A"
