"""Mapping a flagged event to a row of ``events`` (column order of ``EVENT_COLUMNS``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from telemetry_core.events import FlaggedEvent
from telemetry_core.validation import as_text, parse_number, present

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
# dropped by the table and by the aggregate view alike.
INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    return as_text(value) if present(value) else None


def _number(fields: dict[str, Any], name: str) -> float | None:
    value = fields.get(name)
    return parse_number(value) if present(value) else None


def _time(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def event_row(event: FlaggedEvent) -> list[Any]:
    """One ``events`` row; values that are not valid numbers are stored as NULL (and flagged)."""
    raw, flags = event.raw, event.flags
    f = raw.fields
    data_type = f.get("data_type")
    text_data = f.get("text_data")
    return [
        raw.event_id,
        raw.tenant_id,
        raw.api_key_id,
        data_type if isinstance(data_type, str) else "",
        _text(f, "data_group") or "",
        _number(f, "numeric_data_single_value"),
        _number(f, "numeric_data_x"),
        _number(f, "numeric_data_y"),
        text_data if isinstance(text_data, str) and present(text_data) else None,
        _text(f, "product_id"),
        _text(f, "user_identifier"),
        _text(f, "license_key"),
        _text(f, "activation_identifier"),
        _text(f, "product_version"),
        int(flags.is_correct_format),
        int(flags.product_exists),
        int(flags.product_version_exists),
        int(flags.license_key_exists),
        int(flags.has_red_flags),
        list(flags.red_flags),
        json.dumps(event.errors, separators=(",", ":")),
        json.dumps(f, separators=(",", ":"), ensure_ascii=False),
        raw.client_ip,
        raw.user_agent,
        _time(raw.received_at_ms),
        _time(event.processed_at_ms),
        event.retention_days,
        event.schema_version,
    ]
