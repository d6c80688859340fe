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

# The columns a record query returns, in this order (``queries`` selects exactly these).
ROW_COLUMNS = (
    "event_id",
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
    "license_key_exists",
    "product_exists",
    "product_version_exists",
    "is_correct_format",
    "has_red_flags",
    "red_flags",
    "received_at",
)

# The record's field for each row column, same order: the API keeps the platform's names.
RECORD_FIELDS = (
    "id",
    "data_type",
    "data_group",
    "numeric_data_single_value",
    "numeric_data_x",
    "numeric_data_y",
    "text_data",
    "product_id",
    "user_identifier",
    "license_key",
    "activation_identifier",
    "product_version",
    "license_key_exists",
    "product_exists",
    "product_version_exists",
    "is_correct_format",
    "has_red_flags",
    "red_flags",
    "created_at",
)

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
    (event_id, data_type, data_group, value, x, y, text, product_id, user, license_key, activation, version,
     license_exists, product_exists, version_exists, correct_format, red, red_flags, received_at) = row  # fmt: skip
    return {
        "id": event_id,
        "data_type": data_type,
        "data_group": data_group,
        "numeric_data_single_value": value,
        "numeric_data_x": x,
        "numeric_data_y": y,
        "text_data": text,
        "product_id": product_id,
        "user_identifier": user,
        "license_key": license_key,
        "activation_identifier": activation,
        "product_version": version,
        "license_key_exists": int(license_exists),
        "product_exists": int(product_exists),
        "product_version_exists": int(version_exists),
        "is_correct_format": int(correct_format),
        "has_red_flags": int(red),
        "red_flags": list(red_flags),
        "created_at": iso_ms(received_at),
    }


def cursor_after(row: Sequence[Any]) -> Cursor:
    """The position just past ``row`` (laid out as ``ROW_COLUMNS``) in newest-first order."""
    return Cursor(epoch_ms(row[18]), str(row[0]))


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
