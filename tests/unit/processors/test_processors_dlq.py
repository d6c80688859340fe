"""Dead letters: the record and its headers, and the ratio cap that stops a worker."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from processors_fakes import message

from processors import dlq
from processors.errors import DeadLetterRatioExceeded

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


def test_dead_letter_keeps_the_original_record_and_says_why_and_where() -> None:
    source = message(b"\x00garbage", offset=42, partition=3, topic="telemetry.raw.v1", key=b"id-1")
    record = dlq.dead_letter(source, dlq.invalid(source, "undecodable raw event: not JSON"), "flagger", "q", NOW)
    assert (record.topic, record.key, record.value) == ("q", b"id-1", b"\x00garbage")
    assert dict(record.headers) == {
        "dlq.reason": b"undecodable raw event: not JSON",
        "dlq.source_topic": b"telemetry.raw.v1",
        "dlq.source_partition": b"3",
        "dlq.source_offset": b"42",
        "dlq.time": b"2026-01-02T03:04:05.678+00:00",
        "dlq.worker": b"flagger",
    }
    assert dlq.header(record.headers, dlq.SOURCE_OFFSET) == "42"
    assert dlq.header(record.headers, "missing") is None


def test_a_tombstone_becomes_an_empty_value_and_long_reasons_are_cut() -> None:
    source = message(None, offset=1)
    record = dlq.dead_letter(source, dlq.invalid(source, "x" * 5000), "sink", "q", NOW)
    assert record.value == b""
    assert len(dlq.header(record.headers, dlq.REASON) or "") == dlq.MAX_REASON_CHARS


def test_below_or_at_the_cap_passes() -> None:
    policy = dlq.DeadLetterPolicy("flagger", window=10, max_ratio=0.5)
    policy.check([True, False] * 5)
    policy.check([True, False] * 50)
    assert policy.ratio == 0.5


def test_a_window_over_the_cap_raises_naming_the_ratio() -> None:
    policy = dlq.DeadLetterPolicy("flagger", window=10, max_ratio=0.5)
    with pytest.raises(DeadLetterRatioExceeded, match=r"dead-letter ratio 0\.60 over the last 10 messages") as err:
        policy.check([True] * 6 + [False] * 4)
    assert err.value.ratio == pytest.approx(0.6)
    assert "TELEMETRY_DLQ_MAX_RATIO=0.5" in str(err.value)


def test_a_batch_that_raises_is_not_recorded() -> None:
    policy = dlq.DeadLetterPolicy("sink", window=4, max_ratio=0.5)
    policy.check([False, False, False])
    with pytest.raises(DeadLetterRatioExceeded):
        policy.check([True, True, True])
    assert policy.ratio == 0.0
    with pytest.raises(DeadLetterRatioExceeded):  # the same batch after a restart fails again
        policy.check([True, True, True])


def test_the_window_slides_and_is_judged_only_when_full() -> None:
    policy = dlq.DeadLetterPolicy("flagger", window=4, max_ratio=0.5)
    policy.check([True, True])  # 2 of 2, but the window is not full yet
    policy.check([False] * 10)  # first full window: 2 of 4; then the dead letters slide out
    policy.check([True, True, False, False])
    assert policy.ratio == 0.5


def test_a_cap_of_one_never_stops() -> None:
    policy = dlq.DeadLetterPolicy("flagger", window=3, max_ratio=1.0)
    policy.check([True] * 100)


@given(
    st.integers(1, 12),
    st.sampled_from([0.25, 0.5, 1.0]),
    st.lists(st.lists(st.booleans(), max_size=30) | st.integers(0, 30).map(lambda n: [False] * n), max_size=12),
)
@settings(max_examples=300, deadline=None)
def test_clean_batches_take_the_fast_path_with_the_same_outcome(
    window: int, ratio: float, batches: list[list[bool]]
) -> None:
    """A batch without dead letters is accounted in bulk; the result (raise or not, the window
    after) is that of the one-outcome-at-a-time path (an iterator takes that path)."""
    fast, slow = (dlq.DeadLetterPolicy("flagger", window, ratio) for _ in range(2))
    for batch in batches:
        outcomes: list[BaseException | None] = []
        for policy, given_ in ((fast, batch), (slow, iter(batch))):
            try:
                policy.check(given_)
                outcomes.append(None)
            except DeadLetterRatioExceeded as exc:
                outcomes.append(exc)
        assert (outcomes[0] is None) == (outcomes[1] is None)
        assert str(outcomes[0]) == str(outcomes[1])
        assert list(fast._outcomes) == list(slow._outcomes) and fast.ratio == slow.ratio
