"""The token bucket: burst, refill, all-or-nothing, limits that change, shares, pruning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry_core.ratelimit import RateLimit, RateLimiter, parse_rate_limit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limit = RateLimit(10.0, 5)
    assert all(limiter.take("k", limit, 1).admitted for _ in range(5))
    refused = limiter.take("k", limit, 1)
    assert not refused.admitted and refused.retry_after_s == 1 and not refused.over_burst
    clock.now += 0.1  # one token back
    assert limiter.take("k", limit, 1).admitted
    assert not limiter.take("k", limit, 1).admitted


def test_a_batch_takes_all_its_events_or_none() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limit = RateLimit(1.0, 10)
    assert limiter.take("k", limit, 7).admitted
    refused = limiter.take("k", limit, 4)  # 3 left: refused whole, takes nothing
    assert not refused.admitted and refused.retry_after_s == 1
    assert limiter.take("k", limit, 3).admitted


def test_retry_after_is_rounded_up_to_whole_seconds() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limit = RateLimit(2.0, 10)
    limiter.take("k", limit, 10)
    assert limiter.take("k", limit, 5).retry_after_s == 3  # 2.5 s to refill 5 tokens
    clock.now += 2.5
    assert limiter.take("k", limit, 5).admitted


def test_a_batch_over_the_burst_is_never_admitted() -> None:
    limiter = RateLimiter(Clock())
    decision = limiter.take("k", RateLimit(100.0, 10), 11)
    assert not decision.admitted and decision.over_burst


def test_keys_have_their_own_buckets_and_unlimited_keys_pass() -> None:
    limiter = RateLimiter(Clock())
    limit = RateLimit(1.0, 1)
    assert limiter.take("a", limit, 1).admitted
    assert not limiter.take("a", limit, 1).admitted
    assert limiter.take("b", limit, 1).admitted
    assert all(limiter.take("c", None, 1000).admitted for _ in range(10))


def test_a_lowered_limit_applies_at_once() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limiter.take("k", RateLimit(100.0, 100), 1)  # 99 tokens left
    lower = RateLimit(1.0, 2)
    assert limiter.take("k", lower, 2).admitted  # capped to the new burst of 2
    assert not limiter.take("k", lower, 1).admitted


def test_shares_divide_rate_and_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(clock, shares=2)
    limit = RateLimit(10.0, 5)
    assert limit.share(2) == RateLimit(5.0, 3)
    assert [limiter.take("k", limit, 1).admitted for _ in range(4)] == [True, True, True, False]


def test_give_back_returns_tokens_up_to_the_burst() -> None:
    limiter = RateLimiter(Clock())
    limit = RateLimit(1.0, 3)
    assert limiter.take("k", limit, 3).admitted
    limiter.give_back("k", 100)
    assert limiter.take("k", limit, 3).admitted
    assert not limiter.take("k", limit, 1).admitted


def test_full_buckets_are_pruned() -> None:
    clock = Clock()
    limiter = RateLimiter(clock, prune_every=1_000_000)
    limit = RateLimit(10.0, 10)
    for key in range(100):
        limiter.take(str(key), limit, 10)
    limiter.take("busy", RateLimit(0.001, 10), 10)
    clock.now += 1.0
    limiter.prune(clock.now)
    assert len(limiter) == 1


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.5, 1000.0),
    burst=st.integers(1, 200),
    steps=st.lists(st.tuples(st.floats(0.0, 2.0), st.integers(1, 50)), min_size=1, max_size=60),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, steps: list[tuple[float, int]]
) -> None:
    """Whatever the arrivals, admitted events over any run <= burst + rate * elapsed."""
    clock = Clock()
    start = clock.now
    limiter = RateLimiter(clock)
    limit = RateLimit(rate, burst)
    admitted = 0
    for wait, events in steps:
        clock.now += wait
        decision = limiter.take("k", limit, events)
        if decision.admitted:
            admitted += events
        else:
            assert decision.retry_after_s >= 1
        assert admitted <= burst + rate * (clock.now - start) + 1e-6


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("fast", "must be an object"),
        ({"burst": 5}, "events_per_second: required"),
        ({"events_per_second": 0, "burst": 5}, "events_per_second must be in"),
        ({"events_per_second": 5, "burst": 0}, "burst must be"),
        ({"events_per_second": 5, "burst": 2.5}, "burst: must be an integer"),
        ({"events_per_second": True}, "events_per_second: required"),
        ({"events_per_second": 5, "per": "minute"}, "per: unknown field"),
    ],
)
def test_malformed_limits_are_named(value: object, problem: str) -> None:
    problems: list[str] = []
    parse_rate_limit(value, "api_keys[0].rate_limit", problems)
    assert any(problem in p and p.startswith("api_keys[0].rate_limit") for p in problems), problems


def test_burst_defaults_to_one_second_of_events() -> None:
    problems: list[str] = []
    assert parse_rate_limit({"events_per_second": 2.5}, "x", problems) == RateLimit(2.5, 3)
    assert parse_rate_limit(None, "x", problems) is None
    assert problems == []
