"""Primary-key ids: UUIDv7, ordered the way they were made."""

from __future__ import annotations

import time
import uuid

from maily.kit.db import base
from maily.kit.db.base import new_uuid


def test_ids_made_in_a_row_are_strictly_increasing_version_7_ids() -> None:
    ids = [new_uuid() for _ in range(20_000)]  # many share a millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}


def test_a_carry_out_of_the_random_bits_keeps_the_variant() -> None:
    # The last id was made a second ahead (a clock that stepped back) with rand_b at
    # its top: the next id is one past it, carried into rand_a, still a UUIDv7.
    ms = time.time_ns() // 1_000_000 + 1000
    last = (ms << 80) | (0x7 << 76) | (0x123 << 64) | (0b10 << 62) | ((1 << 62) - 1)
    base._last_uuid = last
    following = new_uuid()
    assert following.int > last
    assert following.int >> 80 == ms
    assert (following.int >> 64) & 0xFFF == 0x124  # rand_a took the carry
    assert following.int & ((1 << 62) - 1) == 0  # rand_b starts again
    assert following.version == 7
    assert following.variant == uuid.RFC_4122


def test_a_run_of_ids_is_never_handed_out_again() -> None:
    # Runs and single ids made in the same millisecond: every id in every run, and
    # every single id, is distinct, a UUIDv7, and later than the ones before it.
    made: list[int] = []
    for size in (500, 1, 3, 10_000, 1, 250) * 20:
        first = base.new_uuid_run(size)
        made.extend(range(first, first + size))
        made.append(new_uuid().int)
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    ids = [uuid.UUID(int=value) for value in made]
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}


def test_a_run_that_would_carry_out_of_the_random_bits_moves_to_the_next_rand_a() -> None:
    ms = time.time_ns() // 1_000_000 + 2000
    last = (ms << 80) | (0x7 << 76) | (0x200 << 64) | (0b10 << 62) | ((1 << 62) - 10)
    base._last_uuid = last
    first = base.new_uuid_run(100)
    assert first > last
    assert (first >> 64) & 0xFFF == 0x201
    for value in (first, first + 99):
        assert uuid.UUID(int=value).variant == uuid.RFC_4122
        assert uuid.UUID(int=value).version == 7
    assert new_uuid().int > first + 99
