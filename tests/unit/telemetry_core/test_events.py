"""The wire format of raw and flagged events: round trips, exact bytes, and every decode error."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from telemetry_core.events import (
    SCHEMA_VERSION,
    EventDecodeError,
    FlaggedEvent,
    Flags,
    RawEvent,
    decode_flagged,
    decode_raw,
    encode_flagged,
    encode_raw,
)

RAW = RawEvent(
    event_id="0b7c2f1e-7a54-4d8e-9b1a-2f6f1f0c9a11",
    received_at_ms=1_708_999_140_123,
    tenant_id="acme",
    api_key_id="key-1",
    client_ip="203.0.113.9",
    user_agent="app/1.0",
    fields={"data_type": "text", "text_data": "héllo ✓", "product_id": 1, "x": 1.5, "flag": True, "none": None},
    errors={"license_key": ["The license key field is required."]},
)
FLAGGED = FlaggedEvent(
    raw=RAW,
    errors={"product_id": ["The selected product id is invalid."]},
    flags=Flags(False, False, False, False, True, ("format_errors", "product_unknown")),
    processed_at_ms=1_708_999_141_000,
    retention_days=30,
)


def test_raw_round_trip() -> None:
    assert decode_raw(encode_raw(RAW)) == RAW


def test_flagged_round_trip() -> None:
    assert decode_flagged(encode_flagged(FLAGGED)) == FLAGGED


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
        "errors",
        "v",
    ]


def test_flagged_embeds_the_raw_object_and_lists_red_flags() -> None:
    body = json.loads(encode_flagged(FLAGGED))
    assert list(body) == ["v", "raw", "errors", "flags", "processed_at_ms", "retention_days"]
    assert body["raw"] == json.loads(encode_raw(RAW))
    assert body["flags"]["red_flags"] == ["format_errors", "product_unknown"]
    assert body["v"] == SCHEMA_VERSION


def test_raw_errors_default_to_empty() -> None:
    body = json.loads(encode_raw(RAW))
    del body["errors"]
    assert decode_raw(json.dumps(body).encode()).errors == {}


def test_nan_is_refused_at_encoding() -> None:
    with pytest.raises(ValueError):
        encode_raw(RawEvent("e", 1, "t", "k", "ip", "ua", {"x": float("nan")}))


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
        (_raw_body(errors={"a": "x"}), "errors is not a field-errors object"),
        (_raw_body(errors={"a": [1]}), "errors is not a field-errors object"),
    ],
)
def test_raw_decode_errors_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError) as caught:
        decode_raw(data)
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason


def _flagged_body(**changes: Any) -> bytes:
    body = json.loads(encode_flagged(FLAGGED))
    for name, value in changes.items():
        if value is ...:
            del body[name]
        else:
            body[name] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not JSON"),
        (_flagged_body(v=0), "unknown schema version 0"),
        (_flagged_body(raw=...), "field 'raw' missing or not dict"),
        (_flagged_body(raw={"v": 1}), "field 'fields' missing or not dict"),
        (_flagged_body(flags=...), "field 'flags' missing or not dict"),
        (_flagged_body(flags={"is_correct_format": 1}), "flags incomplete"),
        (_flagged_body(flags={**json.loads(encode_flagged(FLAGGED))["flags"], "red_flags": 3}), "flags incomplete"),
        (_flagged_body(processed_at_ms="x"), "field 'processed_at_ms' missing or not int"),
        (_flagged_body(retention_days=None), "field 'retention_days' missing or not int"),
        (_flagged_body(errors=[]), "errors is not a field-errors object"),
    ],
)
def test_flagged_decode_errors_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError) as caught:
        decode_flagged(data)
    assert reason in caught.value.reason


def test_a_raw_event_is_not_a_flagged_event() -> None:
    with pytest.raises(EventDecodeError):
        decode_flagged(encode_raw(RAW))


def test_nested_field_values_round_trip_verbatim() -> None:
    """SDK extras (flags, metadata) are objects or arrays; the raw event carries them as received."""
    fields = {"hwid": "H-1", "country": "BE", "flags": {"beta": True, "tiers": [1, 2.5]}, "metadata": [{"k": None}]}
    event = dataclasses.replace(RAW, fields=fields)
    assert decode_raw(encode_raw(event)) == event
    assert decode_flagged(encode_flagged(dataclasses.replace(FLAGGED, raw=event))).raw.fields == fields
