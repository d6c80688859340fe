"""A flagged event as an ``events`` row: column order, types, NULLs for absent or bad values."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from telemetry_core.clickhouse.rows import EVENT_COLUMNS, INSERT_SETTINGS, event_row
from telemetry_core.events import FlaggedEvent, Flags, RawEvent


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
    row = event_row(event)
    assert len(row) == len(EVENT_COLUMNS)
    return dict(zip(EVENT_COLUMNS, row, strict=True))


def test_columns_match_the_migration_in_order() -> None:
    from importlib import resources

    sql = resources.files("telemetry_core.clickhouse").joinpath("migrations/0001_events.sql").read_text()
    create = sql[sql.index("CREATE TABLE") :]
    body = create[create.index("(") + 1 : create.index("INDEX")]
    declared = [line.split()[0] for line in body.splitlines() if line.strip()]
    assert tuple(declared) == EVENT_COLUMNS


def test_numeric_single_value_row() -> None:
    row = as_dict(
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
    assert row["event_id"] == "e-1" and row["tenant_id"] == "acme" and row["api_key_id"] == "key-1"
    assert row["data_type"] == "numeric-single-value" and row["data_group"] == "g1"
    assert row["numeric_value"] == 50.5 and row["numeric_x"] is None and row["numeric_y"] is None
    assert row["product_id"] == "7" and row["product_version"] == "1.0" and row["text_data"] is None
    assert [row[f] for f in ("is_correct_format", "product_exists", "product_version_exists")] == [0, 1, 1]
    assert [row["license_key_exists"], row["has_red_flags"]] == [0, 1]
    assert row["red_flags"] == ["format_errors", "license_unknown"]
    assert json.loads(row["errors"]) == {"numeric_data_x": ["The numeric data x field must be a number."]}
    assert row["received_at"] == dt.datetime(2024, 2, 27, 1, 59, 0, 123000, tzinfo=dt.UTC)
    assert row["processed_at"] == dt.datetime(2024, 2, 27, 1, 59, 1, 500000, tzinfo=dt.UTC)
    assert row["retention_days"] == 45 and row["schema_version"] == 1
    assert row["client_ip"] == "203.0.113.9" and row["user_agent"] == "app/1.0"


def test_xy_row_and_values_that_are_not_numbers() -> None:
    row = as_dict(flagged({"data_type": "numeric-xy-axis", "numeric_data_x": "abc", "numeric_data_y": 2}))
    assert row["numeric_x"] is None and row["numeric_y"] == 2.0


def test_text_is_kept_verbatim_and_blank_text_is_null() -> None:
    assert as_dict(flagged({"data_type": "text", "text_data": "  spaced  "}))["text_data"] == "  spaced  "
    assert as_dict(flagged({"data_type": "text", "text_data": "   "}))["text_data"] is None


def test_absent_and_blank_context_fields_are_null_and_bad_data_type_is_empty() -> None:
    row = as_dict(flagged({"data_type": 5, "user_identifier": "  ", "data_group": None}))
    assert row["data_type"] == "" and row["data_group"] == ""
    for name in ("product_id", "user_identifier", "license_key", "activation_identifier", "product_version"):
        assert row[name] is None


def test_raw_fields_keep_everything_received_as_unescaped_json() -> None:
    fields = {"data_type": "text", "text_data": "é", "extra": 1}
    assert json.loads(as_dict(flagged(fields))["raw_fields"]) == fields
    assert "é" in as_dict(flagged(fields))["raw_fields"]


def test_inserts_deduplicate_in_dependent_views_too() -> None:
    assert INSERT_SETTINGS == {"deduplicate_blocks_in_dependent_materialized_views": 1}
