"""The flagger's transform: raw event bytes -> finished ``events`` rows + dead letters (pure but for the clock).

Validation here is authoritative (ingest validated too, but with the reference data it had);
flags use the reference data as known now, and a stored record is never re-flagged later.
Each raw record is decoded once and each field parsed once (``telemetry_core.validation.check``);
the output record is the ClickHouse row itself (``telemetry_core.clickhouse.rows``), so the sink
inserts bytes without decoding them. Its key is the event id, its Kafka timestamp the time the
ingest received the event.

Only a record that is not a raw event (undecodable, unknown schema, unstorable values) becomes a
dead letter. Any other exception is a bug in the rules: it propagates and stops the worker with
its traceback, uncommitted, rather than diverting good events to the DLQ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from processors.batch import SourceMessage
from processors.dlq import invalid
from processors.errors import InvalidMessage
from telemetry_core.clickhouse.rows import encode_row, row
from telemetry_core.events import EventDecodeError, Flags, decode_wire
from telemetry_core.flags import compute_flags
from telemetry_core.kafka_publisher import OutRecord
from telemetry_core.reference import ReferenceLookup
from telemetry_core.validation import check

DeadLetter = tuple[SourceMessage, InvalidMessage]


@dataclass(frozen=True)
class Flagged:
    """One batch flagged: the flagged records (input order), the dead letters, and per input
    message whether it was a dead letter (for the DLQ ratio cap)."""

    records: tuple[OutRecord, ...]
    flags: tuple[Flags, ...]
    dead: tuple[DeadLetter, ...]
    outcomes: tuple[bool, ...]


@dataclass(frozen=True)
class FlagRules:
    """What flagging needs besides the event: the reference data and the defaults."""

    ref: ReferenceLookup
    flagged_topic: str
    default_retention_days: int


def flag_batch(messages: Sequence[SourceMessage], rules: FlagRules, now_ms: int, same_partitions: bool) -> Flagged:
    """Flag every message. ``same_partitions``: the flagged topic has as many partitions as the
    raw one, so a record keeps its source partition (what the key's hash chose for the raw topic,
    since every raw producer partitions by key), saving a hash per record."""
    records: list[OutRecord] = []
    flags: list[Flags] = []
    dead: list[DeadLetter] = []
    outcomes: list[bool] = []
    topic, new = rules.flagged_topic, tuple.__new__
    known = Known()
    for message in messages:
        try:
            key, received_at_ms, value, event_flags = flag_record(message.value, rules, now_ms, known)
        except EventDecodeError as exc:
            dead.append((message, invalid(message, f"undecodable raw event: {exc.reason}")))
            outcomes.append(True)
            continue
        partition = message.partition if same_partitions and key == message.key else None
        # tuple.__new__: a NamedTuple's own __new__ is a Python function, 4x the cost per record.
        records.append(new(OutRecord, (topic, key, value, (), partition, received_at_ms)))
        flags.append(event_flags)
        outcomes.append(False)
    return Flagged(tuple(records), tuple(flags), tuple(dead), tuple(outcomes))


@dataclass
class Known:
    """What one batch has computed already, as the reference data stands while it is flagged (the
    batch is flagged in one go, so the data cannot change meanwhile): the flags per event context
    (events of one license and activation share them) and the retention per tenant."""

    flags: dict[tuple[object, ...], Flags] = field(default_factory=dict)
    retention: dict[str, int] = field(default_factory=dict)


def flag_record(
    value: bytes | None, rules: FlagRules, now_ms: int, known: Known | None = None
) -> tuple[bytes, int, bytes, Flags]:
    """(key: the event id, received_at_ms, the row as JSONCompactEachRow bytes, the flags) of one raw record."""
    if value is None:
        raise EventDecodeError("no value (tombstone)")
    known = known or Known()
    raw = decode_wire(value)
    tenant_id, ref = raw.tenant_id, rules.ref
    checked = check(raw.fields, lambda product_id: ref.product(tenant_id, product_id) is not None)
    values, errors = checked.values, checked.errors
    # Everything compute_flags reads of the event (the texts it looks up, whether it has errors).
    context = (tenant_id, values["product_id"], values["product_version"], values["license_key"],
               values["activation_identifier"], not errors)
    flags = known.flags.get(context)
    if flags is None:
        flags = known.flags[context] = compute_flags(tenant_id, values, errors, ref)
    retention = known.retention.get(tenant_id)
    if retention is None:
        tenant = ref.tenant(tenant_id)
        retention = (tenant.retention_days if tenant is not None else None) or rules.default_retention_days
        known.retention[tenant_id] = retention
    value = encode_row(row(raw, checked, flags, now_ms, retention))
    return raw.event_id.encode(), raw.received_at_ms, value, flags
