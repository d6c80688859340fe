from __future__ import annotations

import pytest

from query_api.params import (
    AggregateQuery,
    Cursor,
    Filters,
    RecordQuery,
    decode_cursor,
    encode_cursor,
    parse_aggregates,
    parse_records,
    parse_time,
)

BASE = [("api_key", "k"), ("data_type", "text"), ("data_group", "g")]


def records(*extra: tuple[str, str], base: list[tuple[str, str]] = BASE) -> RecordQuery | dict[str, list[str]]:
    return parse_records([*base, *extra], default_limit=100, max_limit=1000)


def test_minimal_query_has_defaults() -> None:
    assert records() == RecordQuery(Filters("text", "g"), limit=100, cursor=None, format="json")


def test_every_filter_is_kept_in_a_fixed_order() -> None:
    parsed = records(
        ("product_version", "1.0"),
        ("product_id", " p1 "),
        ("user_identifier", "u"),
        ("license_key", "L"),
        ("activation_identifier", "A"),
        ("has_red_flags", "1"),
        ("license_key_exists", "0"),
        ("product_exists", "1"),
        ("product_version_exists", "0"),
        ("is_correct_format", "1"),
        ("from", "2026-11-22T05:12:01.123Z"),
        ("to", "1795400000"),
        ("limit", "1000"),
    )
    assert isinstance(parsed, RecordQuery)
    f = parsed.filters
    assert f.text == (
        ("product_id", "p1"),
        ("user_identifier", "u"),
        ("license_key", "L"),
        ("activation_identifier", "A"),
        ("product_version", "1.0"),
    )
    assert f.flags == (
        ("license_key_exists", 0),
        ("product_exists", 1),
        ("product_version_exists", 0),
        ("is_correct_format", 1),
        ("has_red_flags", 1),
    )
    assert f.since_ms == 1_795_324_321_123
    assert f.until_ms == 1_795_400_000_000
    assert parsed.limit == 1000
    assert f.needs_events


def test_blank_optional_values_count_as_absent() -> None:
    assert records(("product_id", "  "), ("has_red_flags", "")) == records()


@pytest.mark.parametrize(
    ("pairs", "field", "message"),
    [
        ([("data_group", "g")], "data_type", "The data type field is required."),
        ([("data_type", " "), ("data_group", "g")], "data_type", "The data type field is required."),
        ([("data_type", "numbers"), ("data_group", "g")], "data_type", "The selected data type is invalid."),
        ([("data_type", "text")], "data_group", "The data group field is required."),
        ([*BASE, ("has_red_flags", "yes")], "has_red_flags", "The has red flags field must be 0 or 1."),
        ([*BASE, ("license_key_exists", "2")], "license_key_exists", "The license key exists field must be 0 or 1."),
        ([*BASE, ("product_exists", "true")], "product_exists", "The product exists field must be 0 or 1."),
        (
            [*BASE, ("product_version_exists", "-1")],
            "product_version_exists",
            "The product version exists field must be 0 or 1.",
        ),
        ([*BASE, ("is_correct_format", "01")], "is_correct_format", "The is correct format field must be 0 or 1."),
        ([*BASE, ("from", "yesterday")], "from", "The from field must be a valid date."),
        ([*BASE, ("to", "2026-13-01")], "to", "The to field must be a valid date."),
        ([*BASE, ("from", "-5")], "from", "The from field must be a valid date."),
        ([*BASE, ("from", "2026-11-22"), ("to", "2026-11-21")], "to", "The to field must be a date after from."),
        ([*BASE, ("limit", "0")], "limit", "The limit field must be between 1 and 1000."),
        ([*BASE, ("limit", "1001")], "limit", "The limit field must be between 1 and 1000."),
        ([*BASE, ("limit", "ten")], "limit", "The limit field must be an integer."),
        ([*BASE, ("limit", "1.5")], "limit", "The limit field must be an integer."),
        ([*BASE, ("cursor", "not a cursor!")], "cursor", "The selected cursor is invalid."),
        ([*BASE, ("cursor", "Zm9v")], "cursor", "The selected cursor is invalid."),
        ([*BASE, ("format", "xml")], "format", "The selected format is invalid."),
        ([*BASE, ("format", "csv"), ("limit", "5")], "limit", "The limit field is prohibited when format is csv."),
        (
            [*BASE, ("format", "ndjson"), ("cursor", encode_cursor(Cursor(1, "e")))],
            "cursor",
            "The cursor field is prohibited when format is ndjson.",
        ),
        ([*BASE, ("foo", "1")], "foo", "The foo parameter is not supported."),
        ([*BASE, ("interval", "hour")], "interval", "The interval parameter is not supported."),
        (
            [*BASE, ("product_id", "x" * 256)],
            "product_id",
            "The product id field must not be greater than 255 characters.",
        ),
        ([*BASE, ("data_group", "h")], "data_group", "The data group field must not be repeated."),
    ],
)
def test_invalid_parameters_get_field_errors(pairs: list[tuple[str, str]], field: str, message: str) -> None:
    errors = parse_records(pairs, default_limit=100, max_limit=1000)
    assert isinstance(errors, dict)
    assert errors[field] == [message]


def test_errors_come_in_rule_order_with_unknown_names_last() -> None:
    errors = parse_records([("zzz", "1"), ("limit", "0"), ("data_type", "x")], default_limit=100, max_limit=1000)
    assert list(errors) == ["data_type", "data_group", "limit", "zzz"]


def test_limit_bounds_follow_settings() -> None:
    errors = parse_records([*BASE, ("limit", "60")], default_limit=10, max_limit=50)
    assert errors == {"limit": ["The limit field must be between 1 and 50."]}
    parsed = parse_records(BASE, default_limit=10, max_limit=50)
    assert isinstance(parsed, RecordQuery) and parsed.limit == 10


def test_aggregates_take_interval_and_limit_but_no_cursor_or_format() -> None:
    parsed = parse_aggregates([*BASE, ("interval", "day"), ("limit", "24")], default_limit=100, max_limit=1000)
    assert parsed == AggregateQuery(Filters("text", "g"), interval="day", limit=24)
    errors = parse_aggregates(
        [*BASE, ("interval", "week"), ("cursor", "x"), ("format", "csv")], default_limit=100, max_limit=1000
    )
    assert errors == {
        "interval": ["The selected interval is invalid."],
        "cursor": ["The cursor parameter is not supported."],
        "format": ["The format parameter is not supported."],
    }


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("0", 0),
        ("1795324321", 1_795_324_321_000),
        ("1795324321.5", 1_795_324_321_500),
        ("2026-11-22T05:12:01.123Z", 1_795_324_321_123),
        ("2026-11-22T07:12:01.123+02:00", 1_795_324_321_123),
        ("2026-11-22 05:12:01", 1_795_324_321_000),
        ("2026-11-22", 1_795_305_600_000),
    ],
)
def test_times_parse_as_iso_or_epoch_seconds(text: str, millis: int) -> None:
    assert parse_time(text) == millis


@pytest.mark.parametrize("text", ["", "now", "1e9", "1969-12-31T23:59:59Z", "2300-01-01", "99999999999"])
def test_bad_times_are_rejected(text: str) -> None:
    assert parse_time(text) is None


@pytest.mark.parametrize("cursor", [Cursor(0, "a"), Cursor(1_795_324_321_123, "ev:with:colons"), Cursor(5, "é" * 10)])
def test_cursor_round_trip(cursor: Cursor) -> None:
    text = encode_cursor(cursor)
    assert text.isascii() and "=" not in text and "+" not in text and "/" not in text
    assert decode_cursor(text) == cursor


@pytest.mark.parametrize("text", ["", "!!", "Zm9v", "MjoxOmE", "MTo6YQ", "MTp4OmE", "MToxOg", "a" * 600])
def test_malformed_cursors_decode_to_none(text: str) -> None:
    assert decode_cursor(text) is None
