"""The event records that cross Kafka, and their wire encoding.

``RawEvent`` is what ingest publishes to ``telemetry.raw.v1`` (key: the event id) once the
client is authenticated: every received field verbatim, nested values included (except the
API key itself, replaced by its id), plus what the server knew at receipt. The flagger turns it into the finished
``events`` row (``telemetry_core.clickhouse.rows``) and publishes that to the flagged topic;
``FlaggedEvent`` is the same row as a record, for code that builds rows without Kafka.

Encoding is compact UTF-8 JSON (msgspec: exact integers of any size, one pass in C) with a
``v`` schema version. Decoding validates types and raises ``EventDecodeError`` with a reason,
so a consumer can dead-letter instead of crash. Members a decoder does not know are ignored:
raw records written before ingest stopped sending its (never read) ``errors`` member still
decode, and so do records from a newer ingest that adds one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

SCHEMA_VERSION = 1

JsonScalar = str | int | float | bool | None
FieldErrors = dict[str, list[str]]


class EventDecodeError(ValueError):
    """A message that is not a valid event of a known schema version; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RawEvent:
    """A telemetry request as accepted by ingest; acknowledged by Kafka before the client's 200."""

    event_id: str
    received_at_ms: int
    tenant_id: str
    api_key_id: str
    client_ip: str
    user_agent: str
    fields: dict[str, Any]
    schema_version: int = SCHEMA_VERSION


class Flags(NamedTuple):
    """The five 0/1 flags and the red-flag reasons (see ``telemetry_core.flags``); a tuple, as
    one is made per event."""

    is_correct_format: bool
    product_exists: bool
    product_version_exists: bool
    license_key_exists: bool
    has_red_flags: bool
    red_flags: tuple[str, ...]


@dataclass(frozen=True)
class FlaggedEvent:
    """A raw event after authoritative validation and the reference-data join."""

    raw: RawEvent
    errors: FieldErrors
    flags: Flags
    processed_at_ms: int
    retention_days: int
    schema_version: int = SCHEMA_VERSION


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def dumps(obj: object) -> bytes:
    """Compact UTF-8 JSON; raises ``EventDecodeError`` for text UTF-8 cannot hold (lone surrogates).
    (msgspec writes NaN and infinities as null; no decoded event holds them: JSON has none.)"""
    try:
        return _encoder.encode(obj)
    except (TypeError, ValueError, UnicodeEncodeError, OverflowError) as exc:
        raise EventDecodeError(f"not encodable as JSON: {exc}") from None


def loads_object(data: bytes) -> dict[str, Any]:
    """A JSON object from ``data``, or ``EventDecodeError`` saying why not."""
    try:
        body = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError) as exc:
        raise EventDecodeError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise EventDecodeError("not a JSON object")
    return body


def raw_body(event: RawEvent) -> dict[str, Any]:
    """The wire form of a raw event (built by hand: ``asdict`` deep-copies every field value)."""
    return {
        "event_id": event.event_id,
        "received_at_ms": event.received_at_ms,
        "tenant_id": event.tenant_id,
        "api_key_id": event.api_key_id,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "fields": event.fields,
        "v": event.schema_version,
    }


def encode_raw(event: RawEvent) -> bytes:
    return dumps(raw_body(event))


_STRINGS = ("event_id", "tenant_id", "api_key_id", "client_ip", "user_agent")


def check_raw_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` if it is a raw event of this schema version (types checked), else ``EventDecodeError``."""
    version = body.get("v")
    if version != SCHEMA_VERSION:
        raise EventDecodeError(f"unknown schema version {version!r}")
    for name in _STRINGS:
        if type(body.get(name)) is not str:
            raise EventDecodeError(f"field {name!r} missing or not str")
    received = body.get("received_at_ms")
    if type(received) is not int:
        raise EventDecodeError("field 'received_at_ms' missing or not int")
    if type(body.get("fields")) is not dict:
        raise EventDecodeError("field 'fields' missing or not dict")
    return body


class RawWire(msgspec.Struct, gc=False):
    """A raw record as the flagger reads it: decoded and type-checked in one pass (msgspec, in C),
    fields by attribute. Not tracked by the garbage collector: it holds no cycles, and the
    flagger makes one per event. Unknown members (an older record's ``errors``) are ignored."""

    event_id: str
    received_at_ms: int
    tenant_id: str
    api_key_id: str
    client_ip: str
    user_agent: str
    fields: dict[str, Any]
    v: int


_wire_decoder = msgspec.json.Decoder(RawWire)


def decode_wire(data: bytes) -> RawWire:
    """The raw record ``data`` of this schema version, or ``EventDecodeError`` saying why not
    (the same reasons as ``check_raw_body``)."""
    try:
        wire = _wire_decoder.decode(data)
    except msgspec.ValidationError as exc:
        check_raw_body(loads_object(data))  # raises with the field that is wrong
        raise EventDecodeError(f"not a raw event: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError) as exc:
        raise EventDecodeError(f"not JSON: {exc}") from None
    if wire.v != SCHEMA_VERSION:
        raise EventDecodeError(f"unknown schema version {wire.v!r}")
    return wire


def wire_of(event: RawEvent) -> RawWire:
    """The ``RawWire`` of an event, as the flagger would read it back from Kafka."""
    return RawWire(event.event_id, event.received_at_ms, event.tenant_id, event.api_key_id, event.client_ip,
                   event.user_agent, event.fields, event.schema_version)


def decode_raw(data: bytes) -> RawEvent:
    """The ``RawEvent`` of a raw record (``decode_wire``'s checks and reasons)."""
    wire = decode_wire(data)
    return RawEvent(wire.event_id, wire.received_at_ms, wire.tenant_id, wire.api_key_id, wire.client_ip,
                    wire.user_agent, wire.fields, wire.v)
