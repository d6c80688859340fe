"""The flagger's transform: authoritative validation, flags, retention, dead letters."""

from __future__ import annotations

import json

import pytest
from processors_fakes import message, raw_event

from processors.flagger import FlaggerOutput, flag_batch
from telemetry_core.events import RawEvent, decode_flagged, encode_raw
from telemetry_core.reference import License, Product, ReferenceStore, Tenant

NOW = 1_800_000_000_000


@pytest.fixture
def ref() -> ReferenceStore:
    store = ReferenceStore()
    store.put(Tenant("acme", "Acme", 14))
    store.put(Tenant("plain"))
    store.put(Product("acme", "1", "", frozenset({"1.0"})))
    store.put(License("acme", "LIC", "1", "active", frozenset({"A1"})))
    return store


def run(ref: ReferenceStore, *events: RawEvent | bytes | None, max_bytes: int = 900_000) -> FlaggerOutput:
    messages = [
        message(e if isinstance(e, bytes | None) else encode_raw(e), offset=i, topic="raw")
        for i, e in enumerate(events)
    ]
    return flag_batch(
        messages, ref, flagged_topic="flagged", default_retention_days=90, now_ms=NOW, max_record_bytes=max_bytes
    )


def test_a_correct_event_is_flagged_clean_keyed_by_its_id(ref: ReferenceStore) -> None:
    event = raw_event()
    out = run(ref, event)
    (record,) = out.records
    assert (record.topic, record.key) == ("flagged", event.event_id.encode())
    flagged = decode_flagged(record.value)
    assert flagged.raw == event
    assert flagged.errors == {} and not flagged.flags.has_red_flags
    assert (flagged.processed_at_ms, flagged.retention_days) == (NOW, 14)
    assert out.outcomes == [False] and out.dead == []


def test_validation_is_redone_with_the_tenants_products(ref: ReferenceStore) -> None:
    # Ingest said the product was fine; the flagger knows better (and ignores ingest's errors).
    event = RawEvent("e", 1, "acme", "k", "ip", "ua", {**raw_event().fields, "product_id": "404"}, {"x": ["stale"]})
    flagged = decode_flagged(run(ref, event).records[0].value)
    assert flagged.errors == {"product_id": ["The selected product id is invalid."]}
    assert flagged.flags.red_flags[:2] == ("format_errors", "product_unknown")


def test_retention_falls_back_to_the_default(ref: ReferenceStore) -> None:
    for tenant in ("plain", "unknown-tenant"):
        event = RawEvent("e", 1, tenant, "k", "ip", "ua", raw_event().fields)
        assert decode_flagged(run(ref, event).records[0].value).retention_days == 90


def test_bad_messages_become_dead_letters_in_order_and_the_rest_continues(ref: ReferenceStore) -> None:
    good = raw_event()
    wrong_version = json.dumps({**json.loads(encode_raw(good)), "v": 7}).encode()
    out = run(ref, b"not json", None, good, wrong_version)
    assert out.outcomes == [True, True, False, True]
    reasons = [error.reason for _, error in out.dead]
    assert reasons[0].startswith("undecodable raw event: not JSON")
    assert reasons[1] == "undecodable raw event: no value (tombstone)"
    assert reasons[2] == "undecodable raw event: unknown schema version 7"
    assert [m.offset for m, _ in out.dead] == [0, 1, 3]
    assert [r.key for r in out.records] == [good.event_id.encode()]


def test_a_flagged_record_too_large_for_kafka_is_a_dead_letter(ref: ReferenceStore) -> None:
    out = run(ref, raw_event(text_data="x" * 2000), max_bytes=1000)
    assert out.records == [] and out.outcomes == [True]
    assert out.dead[0][1].reason.startswith("unprocessable raw event: ValueError: flagged record of")


def test_flags_are_reported_for_metrics(ref: ReferenceStore) -> None:
    out = run(ref, raw_event(), raw_event(license_key="NOPE"))
    assert [f.red_flags for f in out.flags] == [(), ("license_unknown",)]
