"""The sink's transform: decoding, unstorable values, and dropping ids stored already."""

from __future__ import annotations

import dataclasses
import json

from processors_fakes import flagged_event, flagged_messages, message, raw_event

from processors.sink import StoredIds, decode, select_rows
from telemetry_core.events import encode_flagged


def test_rows_for_every_decodable_event_in_order() -> None:
    events = [flagged_event() for _ in range(3)]
    decoded, out = decode(flagged_messages(events))
    select_rows(decoded, StoredIds(), out)
    assert [row[0] for row in out.rows] == [e.raw.event_id for e in events]
    assert out.stored == [(0, e.raw.event_id, e.raw.received_at_ms) for e in events]
    assert out.outcomes == [False] * 3 and out.dead == []


def test_undecodable_and_unstorable_messages_are_dead_letters() -> None:
    good = flagged_event()
    too_old = flagged_event(raw_event(received_at_ms=-3_000_000_000_000))
    long_kept = dataclasses.replace(flagged_event(), retention_days=70_000)
    surrogate = encode_flagged(flagged_event()).replace(b'"ua"', b'"\\ud800"')
    messages = [
        message(b"{}", 0),
        message(None, 1),
        message(encode_flagged(too_old), 2),
        message(encode_flagged(long_kept), 3),
        message(surrogate, 4),
        message(encode_flagged(good), 5),
    ]
    decoded, out = decode(messages)
    assert out.outcomes == [True, True, True, True, True, False]
    reasons = [error.reason for _, error in out.dead]
    assert reasons[0] == "undecodable flagged event: unknown schema version None"
    assert reasons[1] == "undecodable flagged event: no value (tombstone)"
    assert reasons[2].startswith("unstorable flagged event: received_at_ms")
    assert reasons[3] == "unstorable flagged event: retention_days 70000 outside 0-65535"
    assert reasons[4] == "unstorable flagged event: text holds a lone UTF-16 surrogate"
    assert [e.raw.event_id for _, e in decoded] == [good.raw.event_id]


def test_an_escaped_surrogate_pair_is_fine() -> None:
    value = encode_flagged(flagged_event()).replace(b'"ua"', b'"\\ud83d\\ude00"')
    _, out = decode([message(value, 0)])
    assert out.dead == [] and json.loads(value)["raw"]["user_agent"] == "😀"


def test_repeats_within_a_batch_keep_the_first() -> None:
    first = flagged_event()
    retry = flagged_event(dataclasses.replace(first.raw, received_at_ms=first.raw.received_at_ms + 5000))
    decoded, out = decode(flagged_messages([first, retry, first]))
    select_rows(decoded, StoredIds(), out)
    assert len(out.rows) == 1 and out.rows[0][24].timestamp() * 1000 == first.raw.received_at_ms
    assert out.duplicates_in_batch == 2


def test_ids_stored_already_in_the_same_partition_are_dropped() -> None:
    stored = StoredIds()
    event = flagged_event()
    stored.add(0, event.raw.event_id, event.raw.received_at_ms)
    decoded, out = decode(flagged_messages([event]) + flagged_messages([event], partition=1))
    select_rows(decoded, stored, out)
    assert out.duplicates_stored == 1 and [p for p, _, _ in out.stored] == [1]


def test_stored_ids_are_a_bounded_lru_per_partition() -> None:
    stored = StoredIds(per_partition=2)
    stored.add(0, "a", 1)
    stored.add(0, "b", 2)
    stored.add(0, "a", 1)  # refreshed: "b" is now the oldest
    stored.add(0, "c", 3)
    stored.add(1, "z", 9)
    assert [stored.get(0, i) for i in "abc"] == [1, None, 3]
    assert stored.get(1, "z") == 9 and stored.get(2, "z") is None and len(stored) == 3
