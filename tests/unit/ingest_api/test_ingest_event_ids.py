from __future__ import annotations

import uuid

import pytest

from ingest_api.event_ids import EventIdError, UuidV7, check_client_id, client_event_id


@pytest.mark.parametrize(
    "value", ["0B0F6C1E-3F47-4C2E-9A53-2F8F4D4B1A10", "0b0f6c1e-3f47-4c2e-9a53-2f8f4d4b1a10", "a", "A_b-9", "x" * 64]
)
def test_accepted_ids_are_kept_verbatim(value: str) -> None:
    assert check_client_id(value, "event_id") == value


@pytest.mark.parametrize(
    "value", ["x" * 65, "a b", "a/b", "é", "{0b0f6c1e-3f47-4c2e-9a53-2f8f4d4b1a10}", 42, 1.5, True]
)
def test_refused_ids(value: object) -> None:
    with pytest.raises(EventIdError) as caught:
        check_client_id(value, "event_id")
    assert caught.value.source == "event_id"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_blank_means_absent(value: object) -> None:
    assert check_client_id(value, "event_id") is None


def test_header_and_field_must_agree() -> None:
    assert client_event_id("k1", "k1") == "k1"
    assert client_event_id("k1", None) == "k1"
    assert client_event_id(None, "k2") == "k2"
    assert client_event_id(None, None) is None
    with pytest.raises(EventIdError, match="differs"):
        client_event_id("k1", "k2")


def test_uuid7_layout() -> None:
    ms = 0x0123_4567_89AB
    value = uuid.UUID(UuidV7(clock_ms=lambda: ms)())
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == ms


def test_uuid7_is_strictly_increasing_even_when_the_clock_stands_still_or_steps_back() -> None:
    times = iter([1000] * 5000 + [999] * 10 + [1001] * 10)
    generate = UuidV7(clock_ms=lambda: next(times))
    ids = [generate() for _ in range(5020)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids)


def test_uuid7_counter_starts_low_enough_to_grow() -> None:
    generate = UuidV7(clock_ms=lambda: 5, random_bytes=lambda n: b"\xff" * n)
    first = uuid.UUID(generate())
    assert (first.int >> 64) & 0xFFF == 0x7FF
