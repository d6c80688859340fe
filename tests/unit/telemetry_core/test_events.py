"""The wire format of raw events (msgspec JSON): round trips, exact bytes, big integers, lone
surrogates, and every decode error."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from telemetry_core.events import (
    SCHEMA_VERSION,
    EventDecodeError,
    RawEvent,
    check_raw_body,
    decode_raw,
    decode_wire,
    dumps,
    encode_raw,
    loads_object,
    raw_body,
    wire_of,
)

RAW = RawEvent(
    event_id="0b7c2f1e-7a54-4d8e-9b1a-2f6f1f0c9a11",
    received_at_ms=1_708_999_140_123,
    tenant_id="acme",
    api_key_id="key-1",
    client_ip="203.0.113.9",
    user_agent="app/1.0",
    fields={"data_type": "text", "text_data": "héllo ✓", "product_id": 1, "x": 1.5, "flag": True, "none": None},
)


def test_raw_round_trip() -> None:
    assert decode_raw(encode_raw(RAW)) == RAW


def test_the_wire_form_is_the_raw_body() -> None:
    body = raw_body(RAW)
    assert json.loads(encode_raw(RAW)) == body and body["v"] == SCHEMA_VERSION
    assert body["fields"] is RAW.fields  # not copied
    assert check_raw_body(loads_object(encode_raw(RAW))) == body


def test_nested_fields_and_big_integers_survive_exactly() -> None:
    fields = {"metadata": {"a": [1, 2**70, -(2**70)], "b": {"c": None}}, "n": 2**64}
    event = RawEvent("e", 1, "t", "k", "ip", "ua", fields)
    data = encode_raw(event)
    assert b'"metadata":{"a":[1,1180591620717411303424,-1180591620717411303424],"b":{"c":null}}' in data
    assert decode_raw(data) == event and type(decode_raw(data).fields["n"]) is int


def test_dumps_refuses_a_lone_surrogate_with_a_reason() -> None:
    with pytest.raises(EventDecodeError, match="not encodable as JSON") as caught:
        dumps({"user_agent": "\ud800"})
    assert "surrogates not allowed" in caught.value.reason
    with pytest.raises(EventDecodeError):
        encode_raw(RawEvent("e", 1, "t", "k", "ip", "\udfff", {}))


def test_dumps_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(EventDecodeError, match="not encodable as JSON"):
        dumps({"x": object()})


@pytest.mark.parametrize("data", [rb'{"a":"\ud800"}', rb'{"a":"\udc00x"}'])
def test_a_lone_surrogate_escape_is_not_json(data: bytes) -> None:
    with pytest.raises(EventDecodeError, match="not JSON"):
        loads_object(data)


def test_an_escaped_surrogate_pair_decodes() -> None:
    assert loads_object(rb'{"a":"\ud83d\ude00"}') == {"a": "😀"}


def test_raw_bytes_are_compact_utf8_json_in_field_order_with_v_last() -> None:
    data = encode_raw(RAW)
    assert data == json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert "héllo ✓".encode() in data  # not \\u-escaped
    assert list(json.loads(data)) == [
        "event_id",
        "received_at_ms",
        "tenant_id",
        "api_key_id",
        "client_ip",
        "user_agent",
        "fields",
        "v",
    ]


def test_records_written_with_ingest_errors_still_decode() -> None:
    """Raw records already in Kafka carry the ``errors`` member ingest used to write; it is ignored."""
    body = {**json.loads(encode_raw(RAW)), "errors": {"license_key": ["The license key field is required."]}}
    assert decode_raw(json.dumps(body).encode()) == RAW
    assert decode_raw(json.dumps({**body, "errors": "anything"}).encode()) == RAW


def _raw_body(**changes: Any) -> bytes:
    body = json.loads(encode_raw(RAW))
    for name, value in changes.items():
        if value is ...:
            del body[name]
        else:
            body[name] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (_raw_body(v=2), "unknown schema version 2"),
        (_raw_body(v=...), "unknown schema version None"),
        (_raw_body(event_id=...), "field 'event_id' missing or not str"),
        (_raw_body(event_id=5), "field 'event_id' missing or not str"),
        (_raw_body(received_at_ms="1"), "field 'received_at_ms' missing or not int"),
        (_raw_body(received_at_ms=True), "field 'received_at_ms' missing or not int"),
        (_raw_body(tenant_id=None), "field 'tenant_id' missing or not str"),
        (_raw_body(fields=[1]), "field 'fields' missing or not dict"),
    ],
)
def test_raw_decode_errors_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError) as caught:
        decode_raw(data)
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason


def test_nested_field_values_round_trip_verbatim() -> None:
    """SDK extras (flags, metadata) are objects or arrays; the raw event carries them as received."""
    fields = {"hwid": "H-1", "country": "BE", "flags": {"beta": True, "tiers": [1, 2.5]}, "metadata": [{"k": None}]}
    event = dataclasses.replace(RAW, fields=fields)
    assert decode_raw(encode_raw(event)) == event


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_raw_body(v=2), "unknown schema version 2"),
        (_raw_body(v=...), "unknown schema version None"),
        (_raw_body(event_id=5), "field 'event_id' missing or not str"),
        (_raw_body(received_at_ms=True), "field 'received_at_ms' missing or not int"),
        (_raw_body(fields=[1]), "field 'fields' missing or not dict"),
    ],
)
def test_the_flaggers_typed_decode_says_why_as_well(data: bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError) as caught:
        decode_wire(data)
    assert reason in caught.value.reason


def test_the_typed_decode_reads_what_encode_raw_writes_and_ignores_old_members() -> None:
    assert decode_wire(encode_raw(RAW)) == wire_of(RAW)
    old_record = _raw_body(errors={"license_key": ["The license key field is required."]})
    assert decode_wire(old_record) == wire_of(RAW)  # records written before ``errors`` went
    big = decode_wire(encode_raw(dataclasses.replace(RAW, fields={"n": 2**70})))
    assert big.fields == {"n": 2**70}
