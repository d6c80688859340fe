"""Pure mapping of result rows to the JSON the API answers with.

A record carries the event's id, its type and group, the value fields (JSON numbers, null when
absent), the context fields, the five flags as 0/1, the red-flag reasons and ``created_at`` (the
time ingest received the event, ISO 8601 UTC with milliseconds).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from query_api.params import Cursor

# The one mapping between a record query's columns and the API record: (column, record field,
# how the value is converted: ``None`` keeps the driver's value, ``flag`` is 0/1, ``reasons`` a
# list, ``time`` ISO 8601). ``queries`` selects exactly these columns in this order; the API
# keeps the platform's field names.
RECORD_MAPPING: tuple[tuple[str, str, str | None], ...] = (
    ("event_id", "id", None),
    ("data_type", "data_type", None),
    ("data_group", "data_group", None),
    ("numeric_value", "numeric_data_single_value", None),
    ("numeric_x", "numeric_data_x", None),
    ("numeric_y", "numeric_data_y", None),
    ("text_data", "text_data", None),
    ("product_id", "product_id", None),
    ("user_identifier", "user_identifier", None),
    ("license_key", "license_key", None),
    ("activation_identifier", "activation_identifier", None),
    ("product_version", "product_version", None),
    ("license_key_exists", "license_key_exists", "flag"),
    ("product_exists", "product_exists", "flag"),
    ("product_version_exists", "product_version_exists", "flag"),
    ("is_correct_format", "is_correct_format", "flag"),
    ("has_red_flags", "has_red_flags", "flag"),
    ("red_flags", "red_flags", "reasons"),
    ("received_at", "created_at", "time"),
)
ROW_COLUMNS = tuple(column for column, _, _ in RECORD_MAPPING)
RECORD_FIELDS = tuple(field for _, field, _ in RECORD_MAPPING)
_FLAGS = tuple(field for _, field, convert in RECORD_MAPPING if convert == "flag")
(_REASONS,) = (field for _, field, convert in RECORD_MAPPING if convert == "reasons")
(_TIME,) = (field for _, field, convert in RECORD_MAPPING if convert == "time")
_EVENT_ID, _RECEIVED_AT = ROW_COLUMNS.index("event_id"), ROW_COLUMNS.index("received_at")

# The columns an aggregate query returns, in this order.
BUCKET_COLUMNS = ("bucket", "events", "flagged", "users", "value_count", "value_sum", "value_min", "value_max")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC datetime (the driver may hand back naive UTC)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def iso_ms(moment: dt.datetime) -> str:
    """``2026-11-22T05:12:01.123Z``: UTC, always three fraction digits (naive means UTC)."""
    offset = moment.utcoffset()
    if offset:
        moment = moment - offset
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def epoch_ms(moment: dt.datetime) -> int:
    return (utc(moment) - _EPOCH) // dt.timedelta(milliseconds=1)


def to_record(row: Sequence[Any]) -> dict[str, Any]:
    """The API record of one row laid out as ``ROW_COLUMNS`` (keys in ``RECORD_FIELDS`` order)."""
    record = dict(zip(RECORD_FIELDS, row, strict=True))
    for field in _FLAGS:
        record[field] = int(record[field])
    record[_REASONS] = list(record[_REASONS])
    record[_TIME] = iso_ms(record[_TIME])
    return record


def cursor_after(row: Sequence[Any]) -> Cursor:
    """The position just past ``row`` (laid out as ``ROW_COLUMNS``) in newest-first order."""
    return Cursor(epoch_ms(row[_RECEIVED_AT]), str(row[_EVENT_ID]))


def to_bucket(row: Sequence[Any], numeric: bool) -> dict[str, Any]:
    """One aggregate bucket; value statistics only for the numeric data types."""
    bucket, events, flagged, users, value_count, value_sum, value_min, value_max = row
    answer: dict[str, Any] = {
        "bucket": iso_ms(bucket),
        "count": int(events),
        "flagged": int(flagged),
        "users": int(users),
    }
    if numeric:
        count = int(value_count)
        answer.update(
            {
                "values": count,
                "min": _finite(value_min) if count else None,
                "max": _finite(value_max) if count else None,
                "avg": _finite(value_sum / count) if count else None,
                "sum": _finite(value_sum),
            }
        )
    return answer


def _finite(value: float | None) -> float | None:
    """JSON has no infinities: a sum that overflowed is reported as null."""
    return None if value is None or not math.isfinite(value) else float(value)
