"""The event records that cross Kafka, and their wire encoding.

``RawEvent`` is what ingest publishes to ``telemetry.raw.v1`` (key: the event id) once the
client is authenticated: every received field verbatim, nested values included (except the API key itself, replaced
by its id), plus what the server knew at receipt. ``FlaggedEvent`` is what the flagger
publishes to ``telemetry.flagged.v1``: the stored row, flags included.

Encoding is compact UTF-8 JSON with a ``v`` schema version. Decoding validates types and
raises ``EventDecodeError`` with a reason, so a consumer can dead-letter instead of crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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
    errors: FieldErrors = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class Flags:
    """The five 0/1 flags and the red-flag reasons (see ``telemetry_core.flags``)."""

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


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _raw_body(event: RawEvent) -> dict[str, Any]:
    # Built by hand rather than with asdict(), which deep-copies every field value (the
    # ingest and flagger hot paths); the bytes are the same: dataclass field order, then "v".
    return {
        "event_id": event.event_id,
        "received_at_ms": event.received_at_ms,
        "tenant_id": event.tenant_id,
        "api_key_id": event.api_key_id,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "fields": event.fields,
        "errors": event.errors,
        "v": event.schema_version,
    }


def encode_raw(event: RawEvent) -> bytes:
    return _dumps(_raw_body(event))


def encode_flagged(event: FlaggedEvent) -> bytes:
    f = event.flags
    flags = {
        "is_correct_format": f.is_correct_format,
        "product_exists": f.product_exists,
        "product_version_exists": f.product_version_exists,
        "license_key_exists": f.license_key_exists,
        "has_red_flags": f.has_red_flags,
        "red_flags": list(f.red_flags),
    }
    body = {
        "v": event.schema_version,
        "raw": _raw_body(event.raw),
        "errors": event.errors,
        "flags": flags,
        "processed_at_ms": event.processed_at_ms,
        "retention_days": event.retention_days,
    }
    return _dumps(body)


def _load_object(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EventDecodeError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise EventDecodeError("not a JSON object")
    return body


def _require(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise EventDecodeError(f"field {name!r} missing or not {getattr(kind, '__name__', kind)}")
    return value


def _errors(value: Any, where: str) -> FieldErrors:
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(m, str) for m in v) for v in value.values()
    ):
        raise EventDecodeError(f"{where} is not a field-errors object")
    return value


def raw_from_dict(body: dict[str, Any]) -> RawEvent:
    version = body.get("v")
    if version != SCHEMA_VERSION:
        raise EventDecodeError(f"unknown schema version {version!r}")
    # Values are kept as received: scalars, or nested objects/arrays (SDK flags, metadata).
    fields = _require(body, "fields", dict)
    return RawEvent(
        event_id=_require(body, "event_id", str),
        received_at_ms=_require(body, "received_at_ms", int),
        tenant_id=_require(body, "tenant_id", str),
        api_key_id=_require(body, "api_key_id", str),
        client_ip=_require(body, "client_ip", str),
        user_agent=_require(body, "user_agent", str),
        fields=fields,
        errors=_errors(body.get("errors", {}), "errors"),
    )


def decode_raw(data: bytes) -> RawEvent:
    return raw_from_dict(_load_object(data))


def decode_flagged(data: bytes) -> FlaggedEvent:
    body = _load_object(data)
    if body.get("v") != SCHEMA_VERSION:
        raise EventDecodeError(f"unknown schema version {body.get('v')!r}")
    raw = raw_from_dict(_require(body, "raw", dict))
    f = _require(body, "flags", dict)
    try:
        flags = Flags(
            is_correct_format=bool(f["is_correct_format"]),
            product_exists=bool(f["product_exists"]),
            product_version_exists=bool(f["product_version_exists"]),
            license_key_exists=bool(f["license_key_exists"]),
            has_red_flags=bool(f["has_red_flags"]),
            red_flags=tuple(str(r) for r in f["red_flags"]),
        )
    except (KeyError, TypeError) as exc:
        raise EventDecodeError(f"flags incomplete: {exc}") from None
    return FlaggedEvent(
        raw=raw,
        errors=_errors(body.get("errors", {}), "errors"),
        flags=flags,
        processed_at_ms=_require(body, "processed_at_ms", int),
        retention_days=_require(body, "retention_days", int),
    )
