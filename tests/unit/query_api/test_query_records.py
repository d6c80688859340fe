from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from query_api.params import Cursor, decode_cursor, encode_cursor
from query_api.records import RECORD_FIELDS, cursor_after, epoch_ms, iso_ms, to_bucket, to_record


def test_record_has_the_platform_fields_in_order(make_row: Any) -> None:
    _, row = make_row(7, text_data="hello", numeric_value=None, license_key="L1", red_flags=("a", "b"))
    record = to_record(row)
    assert tuple(record) == RECORD_FIELDS
    assert record["id"] == "ev00007"
    assert record["numeric_data_single_value"] is None
    assert record["numeric_data_x"] is None
    assert record["text_data"] == "hello"
    assert record["license_key"] == "L1"
    assert record["red_flags"] == ["a", "b"]
    assert record["has_red_flags"] == 1 and isinstance(record["has_red_flags"], int)
    assert record["created_at"] == "2026-11-18T11:06:47.000Z"
    json.dumps(record, allow_nan=False)  # serialisable as is


def test_flags_become_plain_integers(make_row: Any) -> None:
    _, row = make_row(0, is_correct_format=True, product_exists=False)
    record = to_record(row)
    assert record["is_correct_format"] == 1 and type(record["is_correct_format"]) is int
    assert record["product_exists"] == 0 and type(record["product_exists"]) is int


def test_numbers_stay_numbers(make_row: Any) -> None:
    _, row = make_row(1, data_type="numeric-xy-axis", numeric_value=None, numeric_x=-1.5, numeric_y=2.0)
    record = to_record(row)
    assert (record["numeric_data_x"], record["numeric_data_y"]) == (-1.5, 2.0)


def test_iso_ms_is_utc_with_three_digits() -> None:
    moment = dt.datetime(2026, 11, 22, 5, 12, 1, 123_456, tzinfo=dt.UTC)
    assert iso_ms(moment) == "2026-11-22T05:12:01.123Z"
    assert iso_ms(moment.replace(microsecond=0)) == "2026-11-22T05:12:01.000Z"
    assert iso_ms(moment.replace(tzinfo=None)) == "2026-11-22T05:12:01.123Z"  # naive means UTC
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert iso_ms(moment.astimezone(plus_two)) == "2026-11-22T05:12:01.123Z"


def test_cursor_after_a_row_round_trips(make_row: Any) -> None:
    _, row = make_row(3)
    cursor = cursor_after(row)
    assert cursor == Cursor(epoch_ms(row[18]), "ev00003")
    assert decode_cursor(encode_cursor(cursor)) == cursor


def test_numeric_bucket() -> None:
    hour = dt.datetime(2026, 11, 22, 5, tzinfo=dt.UTC)
    bucket = to_bucket((hour, 10, 3, 4, 8, 20.0, -1.0, 9.0), numeric=True)
    assert bucket == {
        "bucket": "2026-11-22T05:00:00.000Z",
        "count": 10,
        "flagged": 3,
        "users": 4,
        "values": 8,
        "min": -1.0,
        "max": 9.0,
        "avg": 2.5,
        "sum": 20.0,
    }


def test_bucket_without_values_and_text_buckets() -> None:
    hour = dt.datetime(2026, 11, 22, 5, tzinfo=dt.UTC)
    empty = to_bucket((hour, 2, 0, 1, 0, 0.0, None, None), numeric=True)
    assert (empty["min"], empty["max"], empty["avg"], empty["sum"]) == (None, None, None, 0.0)
    text = to_bucket((hour, 2, 0, 1, 0, 0.0, None, None), numeric=False)
    assert set(text) == {"bucket", "count", "flagged", "users"}


def test_overflowing_sum_is_null_not_infinity() -> None:
    hour = dt.datetime(2026, 11, 22, 5, tzinfo=dt.UTC)
    bucket = to_bucket((hour, 2, 0, 1, 2, math.inf, 1e308, 1e308), numeric=True)
    assert bucket["sum"] is None and bucket["avg"] is None
    json.dumps(bucket, allow_nan=False)
