"""The flagger's transform: raw event bytes -> flagged records + dead letters (pure but for the clock).

Validation here is authoritative (ingest validated too, but with the reference data it had);
flags use the reference data as known now, and a stored record is never re-flagged later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from processors.batch import OutRecord, SourceMessage
from processors.dlq import invalid
from processors.errors import InvalidMessage
from telemetry_core.events import EventDecodeError, FlaggedEvent, Flags, RawEvent, decode_raw, encode_flagged
from telemetry_core.flags import compute_flags
from telemetry_core.reference import ReferenceLookup
from telemetry_core.validation import validate


@dataclass
class FlaggerOutput:
    """Per batch: records for the flagged topic (input order), and the messages to dead-letter."""

    records: list[OutRecord] = field(default_factory=list)
    flags: list[Flags] = field(default_factory=list)
    dead: list[tuple[SourceMessage, InvalidMessage]] = field(default_factory=list)
    outcomes: list[bool] = field(default_factory=list)  # per input message: True = dead letter


def flag_event(raw: RawEvent, ref: ReferenceLookup, default_retention_days: int, now_ms: int) -> FlaggedEvent:
    """Re-validate ``raw`` with its tenant's products and compute its flags."""
    tenant_id = raw.tenant_id
    errors = validate(raw.fields, lambda product_id: ref.product(tenant_id, product_id) is not None)
    flags = compute_flags(tenant_id, raw.fields, errors, ref)
    tenant = ref.tenant(tenant_id)
    retention = (tenant.retention_days if tenant is not None else None) or default_retention_days
    return FlaggedEvent(raw=raw, errors=errors, flags=flags, processed_at_ms=now_ms, retention_days=retention)


def flag_batch(
    messages: Sequence[SourceMessage],
    ref: ReferenceLookup,
    *,
    flagged_topic: str,
    default_retention_days: int,
    now_ms: int,
    max_record_bytes: int,
) -> FlaggerOutput:
    """Decode, validate and flag every message; undecodable ones (and ones whose flagged record
    would exceed ``max_record_bytes``) become dead letters."""
    out = FlaggerOutput()
    for message in messages:
        try:
            if message.value is None:
                raise EventDecodeError("no value (tombstone)")
            raw = decode_raw(message.value)
            flagged = flag_event(raw, ref, default_retention_days, now_ms)
            value = encode_flagged(flagged)
            if len(value) > max_record_bytes:
                raise ValueError(f"flagged record of {len(value)} bytes exceeds {max_record_bytes}")
        except EventDecodeError as exc:
            out.dead.append((message, invalid(message, f"undecodable raw event: {exc.reason}")))
            out.outcomes.append(True)
            continue
        except (ValueError, TypeError, KeyError) as exc:  # a value the rules cannot handle: data, not a crash
            out.dead.append((message, invalid(message, f"unprocessable raw event: {type(exc).__name__}: {exc}")))
            out.outcomes.append(True)
            continue
        out.records.append(OutRecord(flagged_topic, raw.event_id.encode("utf-8"), value))
        out.flags.append(flagged.flags)
        out.outcomes.append(False)
    return out
