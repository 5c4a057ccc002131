"""Engagement score, churn risk and A/B significance: the arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maily.ai.insights import ab, scores

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def history(
    answers: list[bool], clicks: list[bool] | None = None, days: int = 7
) -> list[scores.Message]:
    clicks = clicks or [False] * len(answers)
    n = len(answers)
    return [
        scores.Message(NOW - timedelta(days=days * (n - i)), opened, clicked)
        for i, (opened, clicked) in enumerate(zip(answers, clicks, strict=True))
    ]


def test_too_few_messages_is_not_enough_data_with_the_threshold() -> None:
    found = scores.engagement(history([True] * 4), NOW)
    assert found.status == "insufficient_data"
    assert found.min_messages == scores.MIN_MESSAGES == 5
    assert found.score is None
    assert found.churn_risk is None
    assert "at least 5" in found.reason


def test_a_keen_reader_scores_high_with_low_risk() -> None:
    found = scores.engagement(history([True] * 10, [True, False] * 5), NOW)
    assert found.status == "ok"
    assert found.open_rate == 1.0
    assert found.score is not None
    assert found.score > 90
    assert found.churn_risk == 0.0
    assert found.risk_level == "low"


def test_recent_messages_weigh_more() -> None:
    lapsed = scores.engagement(history([True] * 5 + [False] * 5), NOW)
    returning = scores.engagement(history([False] * 5 + [True] * 5), NOW)
    assert lapsed.score is not None
    assert returning.score is not None
    assert returning.score > lapsed.score


def test_churn_risk_grows_with_the_silence_for_this_reader() -> None:
    one_in_three = [True, False, False] * 6
    risks = [
        scores.engagement(history(one_in_three + [False] * k), NOW).churn_risk or 0.0
        for k in (0, 3, 9)
    ]
    assert risks[0] == pytest.approx(1 - (1 - 7 / 20) ** 2, abs=1e-3)
    assert risks == sorted(risks)
    assert scores.engagement(history(one_in_three + [False] * 9), NOW).risk_level == "high"


def test_a_contact_who_left_has_churned() -> None:
    found = scores.engagement(history([True] * 8), NOW, status="unsubscribed")
    assert found.status == "churned"
    assert found.churn_risk == 1.0


def test_two_proportion_test_matches_a_textbook_case() -> None:
    # 200/1000 vs 260/1000: z = 3.19, two-sided p = 0.0014.
    p = ab.two_proportion_p_value(ab.Arm("B", 1000, 260), ab.Arm("A", 1000, 200))
    assert p == pytest.approx(0.00142, abs=2e-4)
    assert ab.two_proportion_p_value(ab.Arm("A", 100, 0), ab.Arm("B", 100, 0)) == 1.0


def test_probability_to_beat_is_symmetric_and_sensible() -> None:
    a, b = ab.Arm("A", 500, 50), ab.Arm("B", 500, 75)
    assert ab.probability_to_beat(b, a) == pytest.approx(1 - ab.probability_to_beat(a, b))
    assert ab.probability_to_beat(b, a) > 0.98
    assert ab.probability_to_beat(a, a) == pytest.approx(0.5)


def test_verdicts_in_plain_words() -> None:
    (won,) = ab.compare_all({"A": ab.Arm("A", 1000, 40), "B": ab.Arm("B", 1000, 62)}, "clicks")
    assert won.significant
    assert won.verdict == f"B beats A on clicks at {won.confidence:.0%} confidence"
    assert won.confidence is not None
    assert 0.95 < won.confidence < 0.99

    (open_race,) = ab.compare_all({"A": ab.Arm("A", 200, 40), "B": ab.Arm("B", 200, 44)}, "opens")
    assert not open_race.significant
    needed = ab.recipients_needed(0.2, 0.22)
    assert needed is not None
    assert open_race.more_recipients_per_variant == needed - 200
    assert open_race.verdict == (
        f"not significant yet; need ~{needed - 200:,} more recipients per variant"
    )

    (early,) = ab.compare_all({"A": ab.Arm("A", 10, 2), "B": ab.Arm("B", 10, 5)}, "opens")
    assert early.p_value is None
    assert "not enough sent yet" in early.verdict

    (tie,) = ab.compare_all({"A": ab.Arm("A", 300, 30), "B": ab.Arm("B", 300, 30)}, "opens")
    assert tie.leader == "A"
    assert "no difference" in tie.verdict


def test_sample_size_for_a_known_case() -> None:
    # 10 % vs 12 %: about 3,841 per variant at 95 % / 80 %.
    assert ab.recipients_needed(0.10, 0.12) == pytest.approx(3841, abs=5)
