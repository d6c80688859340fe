"""The ``events`` row: the one mapping from an event to its stored columns.

The flagger builds each row once, as a JSON array in ``EVENT_COLUMNS`` order
(ClickHouse's ``JSONCompactEachRow`` format, ``encode_row``), and publishes those bytes; the sink
inserts them as they are, naming the columns, and ClickHouse parses them. Types are those of
``migrations/0001_events.sql``: times are ``"seconds.mmm"`` strings (DateTime64(3) reads a JSON
number as whole seconds), absent or invalid values are ``null`` in the Nullable columns,
``errors`` and ``raw_fields`` are JSON text. (Arrays rather than objects: a row is ~40% smaller
without the 28 column names, for Kafka and for ClickHouse's parser.)

``event_row`` gives the same row as a list in ``EVENT_COLUMNS`` order with ``datetime`` values,
for code that inserts through clickhouse-connect's typed path (test and benchmark loaders).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from telemetry_core.events import SCHEMA_VERSION, EventDecodeError, FlaggedEvent, Flags, RawWire, dumps, wire_of
from telemetry_core.validation import Checked, check

EVENT_COLUMNS = (
    "event_id",
    "tenant_id",
    "api_key_id",
    "data_type",
    "data_group",
    "numeric_value",
    "numeric_x",
    "numeric_y",
    "text_data",
    "product_id",
    "user_identifier",
    "license_key",
    "activation_identifier",
    "product_version",
    "is_correct_format",
    "product_exists",
    "product_version_exists",
    "license_key_exists",
    "has_red_flags",
    "red_flags",
    "errors",
    "raw_fields",
    "client_ip",
    "user_agent",
    "received_at",
    "processed_at",
    "retention_days",
    "schema_version",
)

# ClickHouse-side settings every events insert carries: a retried batch (same token) is
# dropped by the table and by the aggregate views alike, and the block is pushed to the views
# in parallel rather than one view after the other (the six aggregate views and the two lookup
# projections make up most of an insert's time: bench/RESULTS.pipeline.md).
INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1, "parallel_view_processing": 1}
ROW_FORMAT = "JSONCompactEachRow"

# DateTime64 holds up to 2299-12-31; UInt16 bounds retention_days.
MAX_TIME_MS = int(dt.datetime(2299, 12, 31, tzinfo=dt.UTC).timestamp() * 1000)
MAX_RETENTION_DAYS = 0xFFFF


def row(
    raw: RawWire,
    checked: Checked,
    flags: Flags,
    processed_at_ms: int,
    retention_days: int,
) -> list[Any]:
    """The row of the raw event ``raw`` (as decoded from Kafka), in ``EVENT_COLUMNS`` order.

    Raises ``EventDecodeError`` for an event no ``events`` row can hold (a time outside
    1970-2299, a retention outside UInt16): inserting it would fail the whole batch."""
    received_at_ms = raw.received_at_ms
    if not 0 <= received_at_ms <= MAX_TIME_MS:
        raise EventDecodeError(f"unstorable event: received_at_ms {received_at_ms} outside 1970-2299")
    if not 0 <= processed_at_ms <= MAX_TIME_MS:
        raise EventDecodeError(f"unstorable event: processed_at_ms {processed_at_ms} outside 1970-2299")
    if not 0 <= retention_days <= MAX_RETENTION_DAYS:
        raise EventDecodeError(f"unstorable event: retention_days {retention_days} outside 0-65535")
    v = checked.values
    return [
        raw.event_id,
        raw.tenant_id,
        raw.api_key_id,
        v["data_type"] or "",
        v["data_group"] or "",
        v["numeric_data_single_value"],
        v["numeric_data_x"],
        v["numeric_data_y"],
        v["text_data"],
        v["product_id"],
        v["user_identifier"],
        v["license_key"],
        v["activation_identifier"],
        v["product_version"],
        int(flags.is_correct_format),
        int(flags.product_exists),
        int(flags.product_version_exists),
        int(flags.license_key_exists),
        int(flags.has_red_flags),
        flags.red_flags,
        dumps(checked.errors).decode() if checked.errors else "{}",
        dumps(raw.fields).decode(),
        raw.client_ip,
        raw.user_agent,
        _recent_time_text(received_at_ms),
        _recent_time_text(processed_at_ms),
        retention_days,
        SCHEMA_VERSION,
    ]


def encode_row(values: list[Any]) -> bytes:
    """One ``ROW_FORMAT`` line (without the newline)."""
    return dumps(values)


def _time_text(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


# The texts of recent times: every row of a batch has the same processed_at, and the events of
# one ingest request the same received_at.
_recent_texts: dict[int, str] = {}
_RECENT_TEXTS = 1024


def _recent_time_text(ms: int) -> str:
    text = _recent_texts.get(ms)
    if text is None:
        if len(_recent_texts) >= _RECENT_TEXTS:
            _recent_texts.clear()
        text = _recent_texts[ms] = _time_text(ms)
    return text


def _time(text: str) -> dt.datetime:
    seconds, millis = text.split(".")
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC) + dt.timedelta(milliseconds=int(millis))


def event_row(event: FlaggedEvent) -> list[Any]:
    """``row`` of a ``FlaggedEvent`` as a list in ``EVENT_COLUMNS`` order, times as datetimes."""
    checked = Checked(event.errors, check(event.raw.fields, lambda _: True).values)
    values = row(wire_of(event.raw), checked, event.flags, event.processed_at_ms, event.retention_days)
    received, processed = EVENT_COLUMNS.index("received_at"), EVENT_COLUMNS.index("processed_at")
    values[received], values[processed] = _time(values[received]), _time(values[processed])
    values[EVENT_COLUMNS.index("red_flags")] = list(event.flags.red_flags)
    return values
