"""Dead letters: the record and its headers, and the ratio cap that stops a worker."""

from __future__ import annotations

import datetime as dt

import pytest
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
