"""The ``events`` row: ``row`` / ``encode_row`` (what the flagger publishes and the sink inserts)
and ``event_row`` (the typed form): column order, times, NULLs for absent or bad values, the
JSON text columns, and the values no row can hold."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from telemetry_core.clickhouse.rows import (
    EVENT_COLUMNS,
    INSERT_SETTINGS,
    MAX_TIME_MS,
    ROW_FORMAT,
    encode_row,
    event_row,
    row,
)
from telemetry_core.events import EventDecodeError, FlaggedEvent, Flags, RawEvent, wire_of
from telemetry_core.validation import check


def flagged(fields: dict[str, Any], **raw: Any) -> FlaggedEvent:
    event = RawEvent(
        event_id=raw.get("event_id", "e-1"),
        received_at_ms=raw.get("received_at_ms", 1_708_999_140_123),
        tenant_id="acme",
        api_key_id="key-1",
        client_ip="203.0.113.9",
        user_agent="app/1.0",
        fields=fields,
    )
    return FlaggedEvent(
        raw=event,
        errors={"numeric_data_x": ["The numeric data x field must be a number."]},
        flags=Flags(False, True, True, False, True, ("format_errors", "license_unknown")),
        processed_at_ms=1_708_999_141_500,
        retention_days=45,
    )


def as_dict(event: FlaggedEvent) -> dict[str, Any]:
    values = event_row(event)
    assert len(values) == len(EVENT_COLUMNS)
    return dict(zip(EVENT_COLUMNS, values, strict=True))


FLAGS = Flags(True, True, False, True, True, ("product_version_unknown",))


def wire_row(fields: dict[str, Any], processed_at_ms: int = 1_708_999_141_500, retention: int = 45, **raw: Any) -> Any:
    body = wire_of(flagged(fields, **raw).raw)
    return row(body, check(fields, lambda _: True), FLAGS, processed_at_ms, retention)


def by_column(values: Any) -> dict[str, Any]:
    assert isinstance(values, list) and len(values) == len(EVENT_COLUMNS)
    return dict(zip(EVENT_COLUMNS, values, strict=True))


def test_columns_match_the_migration_in_order() -> None:
    from importlib import resources

    sql = resources.files("telemetry_core.clickhouse").joinpath("migrations/0001_events.sql").read_text()
    create = sql[sql.index("CREATE TABLE") :]
    body = create[create.index("(") + 1 : create.index("INDEX")]
    declared = [line.split()[0] for line in body.splitlines() if line.strip()]
    assert tuple(declared) == EVENT_COLUMNS


def test_numeric_single_value_row() -> None:
    stored = as_dict(
        flagged(
            {
                "data_type": "numeric-single-value",
                "numeric_data_single_value": " 50.5 ",
                "data_group": " g1 ",
                "product_id": 7,
                "user_identifier": "u",
                "license_key": "L",
                "activation_identifier": "A",
                "product_version": "1.0",
            }
        )
    )
    assert stored["event_id"] == "e-1" and stored["tenant_id"] == "acme" and stored["api_key_id"] == "key-1"
    assert stored["data_type"] == "numeric-single-value" and stored["data_group"] == "g1"
    assert stored["numeric_value"] == 50.5 and stored["numeric_x"] is None and stored["numeric_y"] is None
    assert stored["product_id"] == "7" and stored["product_version"] == "1.0" and stored["text_data"] is None
    assert [stored[f] for f in ("is_correct_format", "product_exists", "product_version_exists")] == [0, 1, 1]
    assert [stored["license_key_exists"], stored["has_red_flags"]] == [0, 1]
    assert stored["red_flags"] == ["format_errors", "license_unknown"]
    assert json.loads(stored["errors"]) == {"numeric_data_x": ["The numeric data x field must be a number."]}
    assert stored["received_at"] == dt.datetime(2024, 2, 27, 1, 59, 0, 123000, tzinfo=dt.UTC)
    assert stored["processed_at"] == dt.datetime(2024, 2, 27, 1, 59, 1, 500000, tzinfo=dt.UTC)
    assert stored["retention_days"] == 45 and stored["schema_version"] == 1
    assert stored["client_ip"] == "203.0.113.9" and stored["user_agent"] == "app/1.0"


def test_xy_row_and_values_that_are_not_numbers() -> None:
    stored = as_dict(flagged({"data_type": "numeric-xy-axis", "numeric_data_x": "abc", "numeric_data_y": 2}))
    assert stored["numeric_x"] is None and stored["numeric_y"] == 2.0


def test_text_is_kept_verbatim_and_blank_text_is_null() -> None:
    assert as_dict(flagged({"data_type": "text", "text_data": "  spaced  "}))["text_data"] == "  spaced  "
    assert as_dict(flagged({"data_type": "text", "text_data": "   "}))["text_data"] is None


def test_absent_and_blank_context_fields_are_null_and_bad_data_type_is_empty() -> None:
    stored = as_dict(flagged({"data_type": 5, "user_identifier": "  ", "data_group": None}))
    assert stored["data_type"] == "" and stored["data_group"] == ""
    for name in ("product_id", "user_identifier", "license_key", "activation_identifier", "product_version"):
        assert stored[name] is None


def test_raw_fields_keep_everything_received_as_unescaped_json() -> None:
    fields = {"data_type": "text", "text_data": "é", "extra": 1}
    assert json.loads(as_dict(flagged(fields))["raw_fields"]) == fields
    assert "é" in as_dict(flagged(fields))["raw_fields"]


def test_inserts_deduplicate_in_dependent_views_too() -> None:
    assert INSERT_SETTINGS == {"deduplicate_blocks_in_dependent_materialized_views": 1, "parallel_view_processing": 1}


def test_the_wire_row_is_a_compact_json_array_in_column_order() -> None:
    fields = {"data_type": "text", "text_data": "héllo", "metadata": {"a": [1, 2**70]}}
    values = wire_row(fields)
    data = encode_row(values)
    assert ROW_FORMAT == "JSONCompactEachRow" and b"\n" not in data
    assert json.loads(data) == [list(v) if isinstance(v, tuple) else v for v in values]
    assert data.startswith(b'["e-1","acme","key-1","text",')
    assert "héllo".encode() in data  # UTF-8, not \u-escaped
    raw_fields = by_column(json.loads(data))["raw_fields"]
    assert '"metadata":{"a":[1,1180591620717411303424]}' in raw_fields  # verbatim, big integers exactly


def test_wire_times_are_seconds_dot_millis_text() -> None:
    stored = by_column(wire_row({}, processed_at_ms=5, received_at_ms=1_708_999_140_123))
    assert (stored["received_at"], stored["processed_at"]) == ("1708999140.123", "0.005")
    stored = by_column(wire_row({}, processed_at_ms=MAX_TIME_MS, received_at_ms=0))
    assert (stored["received_at"], stored["processed_at"]) == ("0.000", f"{MAX_TIME_MS // 1000}.000")


def test_wire_row_nulls_flags_and_json_text_columns() -> None:
    fields = {"data_type": "numeric-xy-axis", "numeric_data_x": "abc", "numeric_data_y": " 2 ", "extra": [1]}
    stored = by_column(wire_row(fields))
    assert (stored["numeric_value"], stored["numeric_x"], stored["numeric_y"]) == (None, None, 2.0)
    assert stored["text_data"] is None and stored["product_id"] is None and stored["data_group"] == ""
    assert [stored[name] for name in EVENT_COLUMNS[14:19]] == [1, 1, 0, 1, 1]
    assert stored["red_flags"] == ("product_version_unknown",)
    errors = json.loads(stored["errors"])
    assert errors["numeric_data_x"] == ["The numeric data x field must be a number."]
    assert json.loads(stored["raw_fields"]) == fields
    assert (stored["retention_days"], stored["schema_version"]) == (45, 1)


def test_a_correct_event_stores_empty_errors_as_an_empty_object() -> None:
    fields = {
        "data_type": "text",
        "text_data": "t",
        "data_group": "g",
        "product_id": "1",
        "user_identifier": "u",
        "license_key": "L",
        "activation_identifier": "A",
        "product_version": "1",
    }
    assert by_column(wire_row(fields))["errors"] == "{}"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"received_at_ms": -1}, "unstorable event: received_at_ms -1 outside 1970-2299"),
        ({"received_at_ms": MAX_TIME_MS + 1}, f"unstorable event: received_at_ms {MAX_TIME_MS + 1} outside 1970-2299"),
        ({"processed_at_ms": -5}, "unstorable event: processed_at_ms -5 outside 1970-2299"),
        ({"retention": 70_000}, "unstorable event: retention_days 70000 outside 0-65535"),
        ({"retention": -1}, "unstorable event: retention_days -1 outside 0-65535"),
    ],
)
def test_values_no_row_can_hold_are_refused(changes: dict[str, int], reason: str) -> None:
    with pytest.raises(EventDecodeError) as caught:
        wire_row({}, **changes)
    assert caught.value.reason == reason


def test_the_typed_row_holds_datetimes_and_a_list_of_red_flags() -> None:
    values = event_row(flagged({"data_type": "text", "text_data": "x"}, received_at_ms=1_000_000_000_007))
    assert len(values) == len(EVENT_COLUMNS)
    assert values[EVENT_COLUMNS.index("received_at")] == dt.datetime(2001, 9, 9, 1, 46, 40, 7000, tzinfo=dt.UTC)
    assert isinstance(values[EVENT_COLUMNS.index("processed_at")], dt.datetime)
    assert values[EVENT_COLUMNS.index("red_flags")] == ["format_errors", "license_unknown"]
    assert values[0] == "e-1" and values[-1] == 1
