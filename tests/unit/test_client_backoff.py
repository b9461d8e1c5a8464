"""The tablet's waits between tries: full jitter, bounded, never sooner than Retry-After."""

from __future__ import annotations

import random
import statistics

import pytest

from sync.client.retry import MAX_RETRY_AFTER_S, Backoff, GaveUp


def backoff(**kw) -> Backoff:
    return Backoff(rng=random.Random(7), sleep=lambda s: None, **kw)


def test_each_wait_is_between_zero_and_the_doubling_ceiling_which_stops_at_the_cap():
    b = backoff(base_s=0.5, cap_s=30)
    for attempt in range(40):
        ceiling = min(30, 0.5 * 2 ** attempt)
        waits = [b.delay(attempt) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
    assert max(b.delay(60) for _ in range(500)) <= 30


def test_waits_are_spread_over_the_whole_range_so_tablets_do_not_come_back_in_step():
    b = backoff(base_s=1, cap_s=8)
    waits = [b.delay(10) for _ in range(2000)]  # ceiling 8
    assert min(waits) < 0.5 and max(waits) > 7.5
    assert 3.5 < statistics.mean(waits) < 4.5


def test_retry_after_is_a_floor_with_a_little_jitter_on_top():
    b = backoff(base_s=0.5, cap_s=30)
    for attempt in (0, 3, 20):
        waits = [b.delay(attempt, retry_after_s=7) for _ in range(200)]
        assert all(7 <= w <= 7.5 for w in waits)
        assert len(set(waits)) > 1


def test_an_absurd_retry_after_is_bounded():
    assert backoff().delay(0, retry_after_s=10**9) <= MAX_RETRY_AFTER_S + 0.5


def test_waiting_sleeps_the_delay_and_gives_up_after_the_allowed_tries():
    slept: list[float] = []
    b = Backoff(base_s=1, cap_s=4, max_attempts=4, rng=random.Random(1), sleep=slept.append)
    for attempt in range(3):
        b.wait(attempt, retry_after_s=2 if attempt == 1 else None)
    assert len(slept) == 3 and slept[1] >= 2
    with pytest.raises(GaveUp):
        b.wait(3)
    assert len(slept) == 3
